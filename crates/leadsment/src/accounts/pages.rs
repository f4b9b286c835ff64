//! The signed-in application's account and workspace pages: the account (sessions, email,
//! password, deletion), workspaces, members and invitations, API keys, the API that keys
//! open, and the platform administrators' list of users.

use askama::Template;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Redirect, Response};
use axum::{Form, http::header};
use serde::Deserialize;
use serde_json::json;

use super::api_keys::{ApiKey, KEY_PREFIX, Scope};
use super::invitations::{INVITATION_TTL_MS, Invitation};
use super::sites::{NewSite, Site};
use super::users::{Email, Name, Password, Role, User, UserId};
use super::{Member, WorkspaceId};
use crate::auth::guard::Csrf;
use crate::auth::model::{LinkPurpose, Session, SessionId};
use crate::auth::pages::{fresh_secret, make_link};
use crate::auth::{CurrentKey, CurrentMember, CurrentUser, cookies, mail, password};
use crate::store::now_ms;
use crate::web::error::AppError;
use crate::web::page::{self, Chrome, Errors, when, when_opt};
use crate::web::{Access, AppState, Route};

pub fn routes() -> Vec<Route> {
    use Access::{ApiKey as Key, Member as M};
    vec![
        Route::get("/app", Access::Session, app_home),
        Route::get("/account", Access::Session, account_page),
        Route::post("/account/name", Access::Session, change_name),
        Route::post("/account/password", Access::Session, change_password),
        Route::post("/account/email", Access::Session, change_email),
        Route::post("/account/verify", Access::Session, resend_verification),
        Route::post(
            "/account/sessions/{session_id}/revoke",
            Access::Session,
            revoke_session,
        ),
        Route::post(
            "/account/sign-out-everywhere",
            Access::Session,
            sign_out_everywhere,
        ),
        Route::post("/account/delete", Access::Session, delete_account),
        Route::get("/workspaces", Access::Session, workspaces_page),
        Route::post("/workspaces", Access::Session, create_workspace),
        Route::get("/w/{workspace_id}", M(Role::Viewer), overview),
        Route::post("/w/{workspace_id}/sites", M(Role::Admin), add_site),
        Route::get("/w/{workspace_id}/members", M(Role::Viewer), members_page),
        Route::post("/w/{workspace_id}/invitations", M(Role::Admin), invite),
        Route::post(
            "/w/{workspace_id}/invitations/{invitation_id}/revoke",
            M(Role::Admin),
            revoke_invitation,
        ),
        Route::post(
            "/w/{workspace_id}/members/{user_id}/role",
            M(Role::Admin),
            set_role,
        ),
        Route::post(
            "/w/{workspace_id}/members/{user_id}/remove",
            M(Role::Admin),
            remove_member,
        ),
        Route::post("/w/{workspace_id}/leave", M(Role::Viewer), leave),
        Route::post("/w/{workspace_id}/delete", M(Role::Owner), delete_workspace),
        Route::get("/w/{workspace_id}/api-keys", M(Role::Admin), keys_page),
        Route::post("/w/{workspace_id}/api-keys", M(Role::Admin), create_key),
        Route::post(
            "/w/{workspace_id}/api-keys/{key_id}/revoke",
            M(Role::Admin),
            revoke_key,
        ),
        Route::get(
            "/api/v1/workspaces/{workspace_id}/sites",
            Key(Scope::Read),
            api_sites,
        ),
        Route::post(
            "/api/v1/workspaces/{workspace_id}/sites",
            Key(Scope::Write),
            api_add_site,
        ),
        Route::get("/admin/users", Access::PlatformAdmin, admin_users),
    ]
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

/// Messages after an action, chosen by a fixed key (never text from the address bar).
fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "name" => "Your name is saved.",
        "password" => "Your password is changed. Your other sessions are signed out.",
        "email_sent" => "We sent a link to the new address. Open it to finish the change.",
        "email" => "Your email address is changed.",
        "verify_sent" => "We sent a new confirmation link.",
        "revoked" => "The session is signed out. It ends within seconds.",
        "invited" => "The invitation is sent.",
        "invitation_revoked" => "The invitation is withdrawn; its link no longer works.",
        "role" => "The role is changed.",
        "removed" => "The member is removed.",
        "key_revoked" => "The key is revoked; it stops working at once.",
        "site" => "The site is added. Paste its snippet into every page of the site.",
        "created" => "The workspace is created.",
        "left" => "You left the workspace.",
        "deleted" => "The workspace is deleted.",
        _ => return None,
    })
}

fn back(path: &str, done: &str) -> Response {
    Redirect::to(&format!("{path}?done={done}")).into_response()
}

// --- the app's entry ---------------------------------------------------------------------

async fn app_home(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
) -> Result<Response, AppError> {
    let first = crate::accounts::store::memberships(&state.db, current.user.id)
        .await?
        .into_iter()
        .next();
    Ok(match first {
        Some(m) => Redirect::to(&format!("/w/{}", m.workspace.id.0)).into_response(),
        None => Redirect::to("/workspaces").into_response(),
    })
}

// --- account -----------------------------------------------------------------------------

struct SessionView {
    id: i64,
    device: String,
    created: String,
    last_seen: String,
    persistent: bool,
    current: bool,
}

/// A short description of a browser from its user agent, for people to recognise sessions.
fn device(ua: &str) -> String {
    let browser = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .into_iter()
    .find(|(k, _)| ua.contains(k))
    .map(|(_, v)| v);
    let os = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Mac OS X", "macOS"),
        ("Windows", "Windows"),
        ("Linux", "Linux"),
    ]
    .into_iter()
    .find(|(k, _)| ua.contains(k))
    .map(|(_, v)| v);
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(o)) => o.to_owned(),
        (None, None) if ua.is_empty() => "Unknown device".to_owned(),
        (None, None) => ua.chars().take(40).collect(),
    }
}

fn session_views(sessions: Vec<Session>, current: SessionId) -> Vec<SessionView> {
    sessions
        .into_iter()
        .map(|s| SessionView {
            id: s.id.0,
            device: device(&s.user_agent),
            created: when(&s.created_at),
            last_seen: when(&s.last_seen_at),
            persistent: s.persistent,
            current: s.id == current,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "app/account.html")]
struct AccountPage {
    chrome: Chrome,
    user: User,
    sessions: Vec<SessionView>,
    errors: Errors,
    name: String,
    new_email: String,
    access_minutes: u64,
}

async fn account_view(
    state: &AppState,
    current: &CurrentUser,
    csrf: &str,
    done: Option<&str>,
) -> Result<AccountPage, AppError> {
    let chrome = Chrome::load(state, current, csrf, None, "account")
        .await?
        .with_notice(notice(done));
    let sessions = crate::auth::store::sessions(&state.db, current.user.id).await?;
    Ok(AccountPage {
        chrome,
        user: current.user.clone(),
        sessions: session_views(sessions, current.session.id),
        errors: Errors::default(),
        name: current.user.name.clone(),
        new_email: String::new(),
        access_minutes: state.config.access_token_ttl.as_secs().div_ceil(60),
    })
}

async fn account_page(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Extension(Csrf(csrf)): Extension<Csrf>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    page::ok(&account_view(&state, &current, &csrf, q.done.as_deref()).await?)
}

async fn account_error(
    state: &AppState,
    current: &CurrentUser,
    csrf: &str,
    status: StatusCode,
    edit: impl FnOnce(&mut AccountPage),
) -> Result<Response, AppError> {
    let mut page = account_view(state, current, csrf, None).await?;
    edit(&mut page);
    page::render(status, &page)
}

#[derive(Deserialize)]
pub struct NameForm {
    #[serde(default)]
    name: String,
}

async fn change_name(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Extension(Csrf(csrf)): Extension<Csrf>,
    Form(form): Form<NameForm>,
) -> Result<Response, AppError> {
    match Name::parse(&form.name, "name") {
        Ok(name) => {
            crate::accounts::store::set_user_name(&state.db, current.user.id, name.as_str())
                .await?;
            Ok(back("/account", "name"))
        }
        Err(msg) => {
            account_error(&state, &current, &csrf, StatusCode::BAD_REQUEST, |p| {
                p.errors.add("name", msg);
                p.name = form.name.chars().take(200).collect();
            })
            .await
        }
    }
}

async fn check_password(state: &AppState, user: UserId, given: &str) -> Result<bool, AppError> {
    if given.chars().count() > Password::MAX_CHARS {
        return Ok(false);
    }
    let stored = crate::accounts::store::user_with_password(&state.db, user)
        .await?
        .and_then(|u| u.password_hash);
    password::verify(given, stored)
        .await
        .map_err(AppError::internal)
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
}

async fn change_password(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Extension(Csrf(csrf)): Extension<Csrf>,
    Form(form): Form<PasswordForm>,
) -> Result<Response, AppError> {
    let mut errors = Errors::default();
    if !check_password(&state, current.user.id, &form.current).await? {
        errors.add("current", "This is not your current password.");
    }
    let new = errors.check("new", Password::parse(&form.new));
    let Some(new) = new.filter(|_| errors.is_empty()) else {
        return account_error(&state, &current, &csrf, StatusCode::BAD_REQUEST, |p| {
            p.errors = errors
        })
        .await;
    };
    let hash = password::hash(&new).await.map_err(AppError::internal)?;
    crate::accounts::store::set_password(&state.db, current.user.id, &hash).await?;
    crate::auth::store::revoke_sessions(&state.db, current.user.id, Some(current.session.id))
        .await?;
    Ok(back("/account", "password"))
}

#[derive(Deserialize)]
pub struct EmailChangeForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn change_email(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Extension(Csrf(csrf)): Extension<Csrf>,
    Form(form): Form<EmailChangeForm>,
) -> Result<Response, AppError> {
    let mut errors = Errors::default();
    let email = errors.check("email", Email::parse(&form.email));
    if email
        .as_ref()
        .is_some_and(|e| e.as_str() == current.user.email)
    {
        errors.add("email", "This is already your address.");
    }
    if !check_password(&state, current.user.id, &form.password).await? {
        errors.add("email_password", "This is not your current password.");
    }
    let Some(email) = email.filter(|_| errors.is_empty()) else {
        let typed: String = form.email.chars().take(300).collect();
        return account_error(&state, &current, &csrf, StatusCode::BAD_REQUEST, |p| {
            p.errors = errors;
            p.new_email = typed;
        })
        .await;
    };
    // The link goes to the new address, which proves it; the old one is told.
    let link = make_link(
        &state,
        LinkPurpose::EmailChange,
        "/auth/confirm-email",
        Some(current.user.id),
        Some(email.as_str()),
    )
    .await?;
    state.auth.mailer.send_later(mail::Email {
        to: email.as_str().to_owned(),
        subject: "Confirm your new address for Leadsment".to_owned(),
        body: format!(
            "Hello {},\n\nOpen this link to sign in with this address from now on (it works once, for one hour):\n\n{link}\n",
            current.user.name
        ),
        link: Some(link),
    });
    state.auth.mailer.send_later(mail::Email {
        to: current.user.email.clone(),
        subject: "Your Leadsment address is about to change".to_owned(),
        body: format!(
            "Someone signed in to your account asked to move it to {email}. If it was not you, change your password now.\n"
        ),
        link: None,
    });
    Ok(back("/account", "email_sent"))
}

async fn resend_verification(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
) -> Result<Response, AppError> {
    if !current.user.email_verified {
        let link = make_link(
            &state,
            LinkPurpose::Verify,
            "/auth/verify",
            Some(current.user.id),
            None,
        )
        .await?;
        state.auth.mailer.send_later(mail::Email {
            to: current.user.email.clone(),
            subject: "Confirm your email address for Leadsment".to_owned(),
            body: format!("Confirm your email address by opening this link:\n\n{link}\n"),
            link: Some(link),
        });
    }
    Ok(back("/account", "verify_sent"))
}

async fn revoke_session(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Path(session_id): Path<i64>,
) -> Result<Response, AppError> {
    // Only the user's own sessions: another's id matches nothing.
    if !crate::auth::store::revoke_session(&state.db, current.user.id, SessionId(session_id))
        .await?
    {
        return Err(AppError::not_found("There is no such active session."));
    }
    if current.session.id.0 == session_id {
        return Ok(signed_out_response("/auth/sign-in?signed_out=1"));
    }
    Ok(back("/account", "revoked"))
}

fn signed_out_response(to: &str) -> Response {
    let mut r = Redirect::to(to).into_response();
    for c in &cookies::cleared() {
        cookies::set(&mut r, c);
    }
    r
}

async fn sign_out_everywhere(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
) -> Result<Response, AppError> {
    crate::auth::store::revoke_sessions(&state.db, current.user.id, None).await?;
    Ok(signed_out_response("/auth/sign-in?done=everywhere"))
}

#[derive(Deserialize)]
pub struct DeleteAccountForm {
    #[serde(default)]
    password: String,
}

async fn delete_account(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Extension(Csrf(csrf)): Extension<Csrf>,
    Form(form): Form<DeleteAccountForm>,
) -> Result<Response, AppError> {
    if !check_password(&state, current.user.id, &form.password).await? {
        return account_error(&state, &current, &csrf, StatusCode::BAD_REQUEST, |p| {
            p.errors
                .add("delete_password", "This is not your current password.")
        })
        .await;
    }
    match crate::accounts::members::delete_user(&state.db, current.user.id).await {
        Ok(()) => Ok(signed_out_response("/auth/sign-in?done=deleted")),
        Err(refusal) if refusal.is_refusal() => {
            account_error(&state, &current, &csrf, StatusCode::CONFLICT, |p| {
                p.errors.add("delete_password", refusal.to_string())
            })
            .await
        }
        Err(e) => Err(e.into()),
    }
}

// --- workspaces --------------------------------------------------------------------------

struct WorkspaceView {
    id: i64,
    name: String,
    role: &'static str,
}

#[derive(Template)]
#[template(path = "app/workspaces.html")]
struct WorkspacesPage {
    chrome: Chrome,
    workspaces: Vec<WorkspaceView>,
    name: String,
    errors: Errors,
}

async fn workspaces_view(
    state: &AppState,
    current: &CurrentUser,
    csrf: &str,
) -> Result<WorkspacesPage, AppError> {
    let workspaces = crate::accounts::store::memberships(&state.db, current.user.id)
        .await?
        .into_iter()
        .map(|m| WorkspaceView {
            id: m.workspace.id.0,
            name: m.workspace.name,
            role: m.role.label(),
        })
        .collect();
    Ok(WorkspacesPage {
        chrome: Chrome::load(state, current, csrf, None, "workspaces").await?,
        workspaces,
        name: String::new(),
        errors: Errors::default(),
    })
}

async fn workspaces_page(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Extension(Csrf(csrf)): Extension<Csrf>,
) -> Result<Response, AppError> {
    page::ok(&workspaces_view(&state, &current, &csrf).await?)
}

async fn create_workspace(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Extension(Csrf(csrf)): Extension<Csrf>,
    Form(form): Form<NameForm>,
) -> Result<Response, AppError> {
    match Name::parse(&form.name, "company name") {
        Ok(name) => {
            let ws =
                crate::accounts::store::create_workspace(&state.db, name.as_str(), current.user.id)
                    .await?;
            Ok(back(&format!("/w/{}", ws.id.0), "created"))
        }
        Err(msg) => {
            let mut page = workspaces_view(&state, &current, &csrf).await?;
            page.errors.add("name", msg);
            page.name = form.name.chars().take(200).collect();
            page::render(StatusCode::BAD_REQUEST, &page)
        }
    }
}

struct SiteView {
    domain: String,
    aliases: String,
    snippet: String,
    added: String,
}

#[derive(Template)]
#[template(path = "app/overview.html")]
struct OverviewPage {
    chrome: Chrome,
    workspace_id: i64,
    workspace: String,
    role: Role,
    sites: Vec<SiteView>,
    domain: String,
    errors: Errors,
}

async fn overview_view(
    state: &AppState,
    member: &CurrentMember,
    current: &CurrentUser,
    csrf: &str,
    done: Option<&str>,
) -> Result<OverviewPage, AppError> {
    let ws = &member.membership.workspace;
    let public = state.config.public_url_for("");
    let sites = crate::accounts::store::workspace_sites(&state.db, ws.id)
        .await?
        .into_iter()
        .map(|s: Site| SiteView {
            snippet: s.snippet(&public),
            aliases: s
                .aliases
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            domain: s.domain.to_string(),
            added: when(&s.created_at),
        })
        .collect();
    Ok(OverviewPage {
        chrome: Chrome::load(state, current, csrf, Some(ws.id.0), "overview")
            .await?
            .with_notice(notice(done)),
        workspace_id: ws.id.0,
        workspace: ws.name.clone(),
        role: member.membership.role,
        sites,
        domain: String::new(),
        errors: Errors::default(),
    })
}

async fn overview(
    State(state): State<AppState>,
    Extension(member): Extension<CurrentMember>,
    Extension(current): Extension<CurrentUser>,
    Extension(Csrf(csrf)): Extension<Csrf>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    page::ok(&overview_view(&state, &member, &current, &csrf, q.done.as_deref()).await?)
}

#[derive(Deserialize)]
pub struct SiteForm {
    #[serde(default)]
    domain: String,
}

async fn add_site(
    State(state): State<AppState>,
    Extension(member): Extension<CurrentMember>,
    Extension(current): Extension<CurrentUser>,
    Extension(Csrf(csrf)): Extension<Csrf>,
    Form(form): Form<SiteForm>,
) -> Result<Response, AppError> {
    let ws = member.membership.workspace.id;
    let result = match NewSite::new(ws, &form.domain, &[]) {
        Ok(new) => crate::accounts::store::create_site(&state.db, &new)
            .await
            .map_err(|e| match e.is_refusal() {
                true => Ok(e.to_string()),
                false => Err(e),
            }),
        Err(e) => Err(Ok(e.to_string())),
    };
    match result {
        Ok(_) => Ok(back(&format!("/w/{}", ws.0), "site")),
        Err(Ok(msg)) => {
            let mut page = overview_view(&state, &member, &current, &csrf, None).await?;
            page.errors.add("domain", msg);
            page.domain = form.domain.chars().take(300).collect();
            page::render(StatusCode::BAD_REQUEST, &page)
        }
        Err(Err(e)) => Err(e.into()),
    }
}

// --- members and invitations -------------------------------------------------------------

struct MemberView {
    user_id: i64,
    name: String,
    email: String,
    role: Role,
    since: String,
    is_me: bool,
}

struct InvitationView {
    id: i64,
    email: String,
    role: &'static str,
    expires: String,
}

#[derive(Template)]
#[template(path = "app/members.html")]
struct MembersPage {
    chrome: Chrome,
    workspace_id: i64,
    workspace: String,
    my_role: Role,
    members: Vec<MemberView>,
    invitations: Vec<InvitationView>,
    roles: Vec<Role>,
    invite_email: String,
    invite_role: Role,
    errors: Errors,
}

impl MembersPage {
    fn can_manage(&self) -> bool {
        self.my_role.allows(Role::Admin)
    }
    /// Admins manage members below owner; owners manage everyone.
    fn can_edit(&self, m: &MemberView) -> bool {
        self.can_manage() && (self.my_role == Role::Owner || m.role != Role::Owner)
    }
    fn assignable(&self) -> Vec<Role> {
        self.roles
            .iter()
            .copied()
            .filter(|r| self.my_role == Role::Owner || *r != Role::Owner)
            .collect()
    }
}

async fn members_view(
    state: &AppState,
    member: &CurrentMember,
    current: &CurrentUser,
    csrf: &str,
    done: Option<&str>,
) -> Result<MembersPage, AppError> {
    let ws = &member.membership.workspace;
    let members = crate::accounts::store::members(&state.db, ws.id)
        .await?
        .into_iter()
        .map(|m: Member| MemberView {
            user_id: m.user.id.0,
            is_me: m.user.id == current.user.id,
            name: m.user.name,
            email: m.user.email,
            role: m.role,
            since: when(&m.since),
        })
        .collect();
    let invitations = if member.membership.role.allows(Role::Admin) {
        crate::accounts::store::invitations(&state.db, ws.id)
            .await?
            .into_iter()
            .map(|i: Invitation| InvitationView {
                id: i.id,
                email: i.email,
                role: i.role.label(),
                expires: when(&i.expires_at),
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(MembersPage {
        chrome: Chrome::load(state, current, csrf, Some(ws.id.0), "members")
            .await?
            .with_notice(notice(done)),
        workspace_id: ws.id.0,
        workspace: ws.name.clone(),
        my_role: member.membership.role,
        members,
        invitations,
        roles: Role::ALL.to_vec(),
        invite_email: String::new(),
        invite_role: Role::Member,
        errors: Errors::default(),
    })
}

async fn members_page(
    State(state): State<AppState>,
    Extension(member): Extension<CurrentMember>,
    Extension(current): Extension<CurrentUser>,
    Extension(Csrf(csrf)): Extension<Csrf>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    page::ok(&members_view(&state, &member, &current, &csrf, q.done.as_deref()).await?)
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

async fn invite(
    State(state): State<AppState>,
    Extension(member): Extension<CurrentMember>,
    Extension(current): Extension<CurrentUser>,
    Extension(Csrf(csrf)): Extension<Csrf>,
    Form(form): Form<InviteForm>,
) -> Result<Response, AppError> {
    let ws = &member.membership.workspace;
    let mut errors = Errors::default();
    let email = errors.check("invite_email", Email::parse(&form.email));
    let role = Role::parse(&form.role);
    match role {
        None => errors.add("invite_role", "Choose a role."),
        Some(Role::Owner) if member.membership.role != Role::Owner => {
            errors.add("invite_role", "Only an owner can invite another owner.")
        }
        _ => {}
    }
    let (Some(email), Some(role)) = (email, role.filter(|_| errors.is_empty())) else {
        let mut page = members_view(&state, &member, &current, &csrf, None).await?;
        page.errors = errors;
        page.invite_email = form.email.chars().take(300).collect();
        return page::render(StatusCode::BAD_REQUEST, &page);
    };
    let (token, hash) = fresh_secret();
    crate::accounts::store::create_invitation(
        &state.db,
        ws.id,
        email.as_str(),
        role,
        &hash,
        current.user.id,
        now_ms() + INVITATION_TTL_MS,
    )
    .await?;
    let link = state
        .config
        .public_url_for(&format!("/invite?token={token}"));
    state.auth.mailer.send_later(mail::Email {
        to: email.as_str().to_owned(),
        subject: format!("{} invited you to {} on Leadsment", current.user.name, ws.name),
        body: format!(
            "{} ({}) invited you to join the workspace “{}” on Leadsment as {}.\n\nOpen this link to accept (it works once, for 7 days):\n\n{link}\n",
            current.user.name,
            current.user.email,
            ws.name,
            role.label().to_lowercase()
        ),
        link: Some(link),
    });
    Ok(back(&format!("/w/{}/members", ws.id.0), "invited"))
}

async fn revoke_invitation(
    State(state): State<AppState>,
    Extension(member): Extension<CurrentMember>,
    Path((_, invitation_id)): Path<(i64, i64)>,
) -> Result<Response, AppError> {
    let ws = member.membership.workspace.id;
    if !crate::accounts::store::revoke_invitation(&state.db, ws, invitation_id).await? {
        return Err(AppError::not_found(
            "There is no such pending invitation in this workspace.",
        ));
    }
    Ok(back(&format!("/w/{}/members", ws.0), "invitation_revoked"))
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

/// The target's membership in this workspace, or 404.
async fn target_member(state: &AppState, ws: WorkspaceId, user: i64) -> Result<Role, AppError> {
    crate::accounts::store::membership(&state.db, ws, UserId(user))
        .await?
        .map(|m| m.role)
        .ok_or_else(|| AppError::not_found("There is no such member in this workspace."))
}

async fn set_role(
    State(state): State<AppState>,
    Extension(member): Extension<CurrentMember>,
    Path((_, user_id)): Path<(i64, i64)>,
    Form(form): Form<RoleForm>,
) -> Result<Response, AppError> {
    let ws = member.membership.workspace.id;
    let mine = member.membership.role;
    let theirs = target_member(&state, ws, user_id).await?;
    let Some(role) = Role::parse(&form.role) else {
        return Err(AppError::bad_request(
            "invalid_role",
            "Choose owner, admin, member or viewer.",
        ));
    };
    if mine != Role::Owner && (theirs == Role::Owner || role == Role::Owner) {
        return Err(AppError::forbidden(
            "Only an owner can name or change owners.",
        ));
    }
    crate::accounts::members::set_role(&state.db, ws, UserId(user_id), role).await?;
    Ok(back(&format!("/w/{}/members", ws.0), "role"))
}

async fn remove_member(
    State(state): State<AppState>,
    Extension(member): Extension<CurrentMember>,
    Path((_, user_id)): Path<(i64, i64)>,
) -> Result<Response, AppError> {
    let ws = member.membership.workspace.id;
    let theirs = target_member(&state, ws, user_id).await?;
    if theirs == Role::Owner && member.membership.role != Role::Owner {
        return Err(AppError::forbidden("Only an owner can remove an owner."));
    }
    crate::accounts::members::remove_member(&state.db, ws, UserId(user_id)).await?;
    Ok(back(&format!("/w/{}/members", ws.0), "removed"))
}

async fn leave(
    State(state): State<AppState>,
    Extension(member): Extension<CurrentMember>,
) -> Result<Response, AppError> {
    let ws = member.membership.workspace.id;
    crate::accounts::members::remove_member(&state.db, ws, member.user.id).await?;
    Ok(back("/workspaces", "left"))
}

#[derive(Deserialize)]
pub struct DeleteWorkspaceForm {
    #[serde(default)]
    confirm: String,
}

async fn delete_workspace(
    State(state): State<AppState>,
    Extension(member): Extension<CurrentMember>,
    Form(form): Form<DeleteWorkspaceForm>,
) -> Result<Response, AppError> {
    let ws = &member.membership.workspace;
    if form.confirm.trim() != ws.name {
        return Err(AppError::bad_request(
            "confirmation_mismatch",
            "Type the workspace's name exactly to delete it. Nothing was deleted.",
        ));
    }
    crate::accounts::store::delete_workspace(&state.db, ws.id).await?;
    Ok(back("/workspaces", "deleted"))
}

// --- API keys ----------------------------------------------------------------------------

struct KeyView {
    id: i64,
    name: String,
    prefix: String,
    scope: &'static str,
    created: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "app/api_keys.html")]
struct KeysPage {
    chrome: Chrome,
    workspace_id: i64,
    workspace: String,
    keys: Vec<KeyView>,
    /// A key just created: shown this once.
    new_key: Option<String>,
    name: String,
    errors: Errors,
}

async fn keys_view(
    state: &AppState,
    member: &CurrentMember,
    current: &CurrentUser,
    csrf: &str,
    done: Option<&str>,
) -> Result<KeysPage, AppError> {
    let ws = &member.membership.workspace;
    let keys = crate::accounts::store::api_keys(&state.db, ws.id)
        .await?
        .into_iter()
        .map(|k: ApiKey| KeyView {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scope: k.scope.as_str(),
            created: when(&k.created_at),
            last_used: when_opt(&k.last_used_at),
        })
        .collect();
    Ok(KeysPage {
        chrome: Chrome::load(state, current, csrf, Some(ws.id.0), "keys")
            .await?
            .with_notice(notice(done)),
        workspace_id: ws.id.0,
        workspace: ws.name.clone(),
        keys,
        new_key: None,
        name: String::new(),
        errors: Errors::default(),
    })
}

async fn keys_page(
    State(state): State<AppState>,
    Extension(member): Extension<CurrentMember>,
    Extension(current): Extension<CurrentUser>,
    Extension(Csrf(csrf)): Extension<Csrf>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    page::ok(&keys_view(&state, &member, &current, &csrf, q.done.as_deref()).await?)
}

#[derive(Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
}

async fn create_key(
    State(state): State<AppState>,
    Extension(member): Extension<CurrentMember>,
    Extension(current): Extension<CurrentUser>,
    Extension(Csrf(csrf)): Extension<Csrf>,
    Form(form): Form<KeyForm>,
) -> Result<Response, AppError> {
    let mut page = keys_view(&state, &member, &current, &csrf, None).await?;
    let name = page
        .errors
        .check("name", Name::parse(&form.name, "key name"));
    let scope = Scope::parse(&form.scope);
    if scope.is_none() {
        page.errors.add("scope", "Choose read or write.");
    }
    let (Some(name), Some(scope)) = (name, scope) else {
        page.name = form.name.chars().take(200).collect();
        return page::render(StatusCode::BAD_REQUEST, &page);
    };
    let secret = format!("{KEY_PREFIX}{}", crate::auth::tokens::random_token());
    let prefix: String = secret.chars().take(KEY_PREFIX.len() + 6).collect();
    crate::accounts::store::create_api_key(
        &state.db,
        member.membership.workspace.id,
        name.as_str(),
        &prefix,
        &crate::auth::tokens::digest(&secret),
        scope,
        current.user.id,
    )
    .await?;
    let mut page = keys_view(&state, &member, &current, &csrf, None).await?;
    page.new_key = Some(secret);
    // The key is in this page only: keep it out of caches and history.
    let mut r = page::ok(&page)?;
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(r)
}

async fn revoke_key(
    State(state): State<AppState>,
    Extension(member): Extension<CurrentMember>,
    Path((_, key_id)): Path<(i64, i64)>,
) -> Result<Response, AppError> {
    let ws = member.membership.workspace.id;
    if !crate::accounts::store::revoke_api_key(&state.db, ws, key_id).await? {
        return Err(AppError::not_found(
            "There is no such key in this workspace.",
        ));
    }
    Ok(back(&format!("/w/{}/api-keys", ws.0), "key_revoked"))
}

// --- the API that keys open ------------------------------------------------------------

async fn api_sites(
    State(state): State<AppState>,
    Extension(CurrentKey { key }): Extension<CurrentKey>,
) -> Result<Json<serde_json::Value>, AppError> {
    let sites = crate::accounts::store::workspace_sites(&state.db, key.workspace_id).await?;
    Ok(Json(json!({ "sites": sites })))
}

#[derive(Deserialize)]
pub struct ApiSite {
    domain: String,
    #[serde(default)]
    aliases: Vec<String>,
}

async fn api_add_site(
    State(state): State<AppState>,
    Extension(CurrentKey { key }): Extension<CurrentKey>,
    Json(body): Json<ApiSite>,
) -> Result<Response, AppError> {
    let new = NewSite::new(key.workspace_id, &body.domain, &body.aliases)
        .map_err(|e| AppError::bad_request("invalid_site", e.to_string()))?;
    let site = crate::accounts::store::create_site(&state.db, &new).await?;
    Ok((StatusCode::CREATED, Json(json!({ "site": site }))).into_response())
}

// --- platform administration -------------------------------------------------------------

struct UserView {
    name: String,
    email: String,
    verified: bool,
    admin: bool,
    created: String,
}

#[derive(Template)]
#[template(path = "app/admin_users.html")]
struct AdminUsersPage {
    chrome: Chrome,
    users: Vec<UserView>,
}

async fn admin_users(
    State(state): State<AppState>,
    Extension(current): Extension<CurrentUser>,
    Extension(Csrf(csrf)): Extension<Csrf>,
) -> Result<Response, AppError> {
    let users = crate::accounts::store::list_users(&state.db)
        .await?
        .into_iter()
        .map(|u| UserView {
            name: u.name,
            email: u.email,
            verified: u.email_verified,
            admin: u.is_platform_admin,
            created: when(&u.created_at),
        })
        .collect();
    page::ok(&AdminUsersPage {
        chrome: Chrome::load(&state, &current, &csrf, None, "admin").await?,
        users,
    })
}
