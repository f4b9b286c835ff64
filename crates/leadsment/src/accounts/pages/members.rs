//! Members of a workspace, their roles, invitations, leaving and deleting a workspace.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{DoneQuery, back, notice};
use crate::accounts::chrome::Chrome;
use crate::accounts::context::WorkspaceCtx;
use crate::accounts::invitations::{INVITATION_TTL_MS, Invitation};
use crate::accounts::roles::Role;
use crate::accounts::{Access, AccountsState};
use crate::accounts::{Member, WorkspaceId};
use crate::auth::links::fresh_secret;
use crate::auth::mail;
use crate::auth::users::{Email, UserId};
use crate::store::now_ms;
use crate::web::Route;
use crate::web::client_addr::ClientAddr;
use crate::web::error::AppError;
use crate::web::page::{self, Errors, when};

pub(super) fn routes() -> Vec<Route<AccountsState, Access>> {
    use Access::Member as M;
    vec![
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
    ]
}

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

async fn members_view(ctx: &WorkspaceCtx, done: Option<&str>) -> Result<MembersPage, AppError> {
    let (state, member, current) = (&ctx.state, &ctx.member, &ctx.current);
    let csrf = ctx.csrf.as_str();
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

async fn members_page(ctx: WorkspaceCtx, Query(q): Query<DoneQuery>) -> Result<Response, AppError> {
    page::ok(&members_view(&ctx, q.done.as_deref()).await?)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct InviteForm {
    email: String,
    role: String,
}

async fn invite(
    ctx: WorkspaceCtx,
    client: ClientAddr,
    Form(form): Form<InviteForm>,
) -> Result<Response, AppError> {
    let (state, member, current) = (&ctx.state, &ctx.member, &ctx.current);
    state.mail_limiter.admit(client)?;
    let ws = &member.membership.workspace;
    let mut errors = Errors::default();
    let email = errors.check("invite_email", Email::parse(&form.email));
    if !current.user.email_verified {
        // A throwaway account must not mail anyone it likes in our name.
        errors.add(
            "invite_email",
            "Confirm your own address first: open the link we emailed you, or send it again \
             from your account page.",
        );
    }
    let role = Role::parse(&form.role);
    match role {
        None => errors.add("invite_role", "Choose a role."),
        Some(Role::Owner) if member.membership.role != Role::Owner => {
            errors.add("invite_role", "Only an owner can invite another owner.")
        }
        _ => {}
    }
    let (Some(email), Some(role)) = (email, role.filter(|_| errors.is_empty())) else {
        let mut page = members_view(&ctx, None).await?;
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
    let link = state.web.public_url_for(&format!("/invite?token={token}"));
    state.auth.mailer.send_notice_later(mail::Email {
        to: email.as_str().to_owned(),
        subject: "You are invited to a workspace on Leadsment".to_owned(),
        body: format!(
            "The user {} ({}) invited you to join the workspace {} on Leadsment as {}. Both names are as they chose them.\n\nOpen this link to accept (it works once, for 7 days):\n\n{link}\n",
            mail::quoted(&current.user.name),
            current.user.email,
            mail::quoted(&ws.name),
            role.label().to_lowercase()
        ),
        link: Some(link),
    });
    Ok(back(&format!("/w/{}/members", ws.id.0), "invited"))
}

async fn revoke_invitation(
    WorkspaceCtx { state, member, .. }: WorkspaceCtx,
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

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RoleForm {
    role: String,
}

/// The target's membership in this workspace, or 404.
async fn target_member(
    state: &AccountsState,
    ws: WorkspaceId,
    user: i64,
) -> Result<Role, AppError> {
    crate::accounts::store::membership(&state.db, ws, UserId(user))
        .await?
        .map(|m| m.role)
        .ok_or_else(|| AppError::not_found("There is no such member in this workspace."))
}

async fn set_role(
    WorkspaceCtx { state, member, .. }: WorkspaceCtx,
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
    WorkspaceCtx { state, member, .. }: WorkspaceCtx,
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

async fn leave(WorkspaceCtx { state, member, .. }: WorkspaceCtx) -> Result<Response, AppError> {
    let ws = member.membership.workspace.id;
    crate::accounts::members::remove_member(&state.db, ws, member.user.id).await?;
    Ok(back("/workspaces", "left"))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DeleteWorkspaceForm {
    confirm: String,
}

async fn delete_workspace(
    WorkspaceCtx { state, member, .. }: WorkspaceCtx,
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
