//! Saved feeds: a member saves the feed's view under a name, it is listed under the site in
//! the menu and opens the same filters; bad names and views are refused next to the field
//! with nothing stored; viewers open them but neither save nor delete; other workspaces get
//! 404; a site keeps at most 50, and they go with their workspace. On both backends.

use leadsment::accounts::WorkspaceId;
use leadsment::accounts::roles::Role;
use leadsment::accounts::sites::{Site, SiteId};
use leadsment::store::Db;
use reqwest::StatusCode;
use serde_json::json;

use crate::accounts::{PW, join, make_user};
use crate::client::Client;
use crate::leads::{INDEX, app_with_index, owner_with_site, send};
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(
    a_member_saves_a_view_that_the_menu_opens_and_deletes_it,
    refused_views_and_strangers_store_nothing,
    a_site_keeps_at_most_fifty_saved_feeds,
    concurrent_saves_never_pass_the_cap,
);

async fn names(store: &Db, site: SiteId) -> Vec<String> {
    leadsment::leads::store::saved::saved_feeds(store, site)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect()
}

/// A client signed in as a new user with `role` in the workspace.
async fn member(
    app: &crate::support::TestApp,
    store: &Db,
    ws: leadsment::accounts::WorkspaceId,
    email: &str,
    role: Role,
) -> Client {
    let owner = leadsment::accounts::store::members(store, ws)
        .await
        .unwrap()[0]
        .user
        .id;
    let user = make_user(store, email, None).await;
    join(store, ws, &user, role, owner).await;
    let c = Client::new(app);
    c.sign_in(email, PW, false).await;
    c
}

async fn a_member_saves_a_view_that_the_menu_opens_and_deletes_it(backend: Backend) {
    let app = app_with_index(backend, INDEX).await;
    let (ws, site, owner) = owner_with_site(&app, "owner@acme.example", "shop.example").await;
    let store = app.db.store().await;
    let alice = member(&app, &store, ws, "alice@acme.example", Role::Member).await;
    let base = format!("/w/{}/sites/{}", ws.0, site.id.0);
    let page = |path: &str| json!({"name": "pageview", "url": format!("https://shop.example{path}"), "domain": "shop.example"});
    send(&app, "198.51.100.7", page("/pricing")).await;
    send(&app, "203.0.113.9", page("/")).await;

    // The whole feed: Acme, not the ISP; a form to save the view.
    let all = alice.get(&format!("{base}/companies")).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert!(all.body.contains(">Acme</a>") && !all.body.contains("Example Broadband"));
    assert!(all.body.contains(&format!("action=\"{base}/feeds\"")));

    // Saving the ISP view, from its second page: stored in the feed's own order, without
    // the page marker, and opened at once.
    let res = alice
        .post_form(
            &format!("{base}/feeds"),
            &[
                ("name", "  Broadband callers "),
                ("query", "class=isp&period=7d&cursor=bm9wZQ&utm_source=x"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let view = format!("{base}/companies?period=7d&class=isp");
    assert_eq!(res.location(), format!("{view}&done=feed_saved"));
    assert_eq!(names(&store, site.id).await, ["Broadband callers"]);

    let opened = alice.get(res.location()).await;
    assert_eq!(opened.status, StatusCode::OK, "{}", opened.body);
    assert!(opened.body.contains("The view is saved"), "{}", opened.body);
    assert!(
        opened.body.contains("Example Broadband") && !opened.body.contains(">Acme</a>"),
        "{}",
        opened.body
    );
    assert!(
        opened
            .body
            .contains("Saved feed <strong>Broadband callers</strong>")
    );
    let nav_link = format!("href=\"{}\"", view.replace('&', "&#38;"));
    assert!(
        opened.body.contains(&format!(
            "{nav_link} aria-current=\"page\">Broadband callers</a>"
        )),
        "{}",
        opened.body
    );

    // Every page of the site lists it; the link opens the same filters.
    let overview = alice.get(&base).await;
    assert!(
        overview
            .body
            .contains(&format!("{nav_link}>Broadband callers</a>")),
        "{}",
        overview.body
    );
    let company = all
        .body
        .split(&format!("href=\"{base}/companies/"))
        .nth(1)
        .and_then(|s| s.split('"').next())
        .map(|id| format!("{base}/companies/{id}"))
        .expect("a company link");
    assert!(alice.get(&company).await.body.contains(&nav_link));
    for (who, page) in [(&alice, "live"), (&owner, "settings")] {
        let res = who.get(&format!("{base}/{page}")).await;
        assert_eq!(res.status, StatusCode::OK, "{page}");
        assert!(
            res.body
                .contains(&format!("{nav_link}>Broadband callers</a>")),
            "{page}: {}",
            res.body
        );
    }
    let again = alice.get(&view).await;
    assert!(again.body.contains("Example Broadband") && !again.body.contains(">Acme</a>"));
    assert!(!again.body.contains(&format!("action=\"{base}/feeds\"")));

    // A viewer sees and opens it, with no form to save or delete.
    let viewer = member(&app, &store, ws, "vera@acme.example", Role::Viewer).await;
    let seen = viewer.get(&view).await;
    assert_eq!(seen.status, StatusCode::OK);
    assert!(seen.body.contains(&nav_link) && seen.body.contains("Example Broadband"));
    assert!(!seen.body.contains("/delete\"") && !seen.body.contains(&format!("{base}/feeds\"")));

    // Deleting: back to the same view, unsaved, gone from the menu.
    let id = leadsment::leads::store::saved::saved_feeds(&store, site.id)
        .await
        .unwrap()[0]
        .id;
    let delete = format!("{base}/feeds/{id}/delete");
    assert!(opened.body.contains(&format!("action=\"{delete}\"")));
    let res = alice.post_form(&delete, &[]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.location(), format!("{view}&done=feed_deleted"));
    assert!(names(&store, site.id).await.is_empty());
    let after = alice.get(res.location()).await;
    assert!(after.body.contains("The saved feed is deleted"));
    assert!(!after.body.contains("Broadband callers"));
    assert!(after.body.contains(&format!("action=\"{base}/feeds\"")));
    assert_eq!(
        alice.post_form(&delete, &[]).await.status,
        StatusCode::NOT_FOUND
    );
    store.close().await;
    app.shutdown().await.unwrap();
}

async fn refused_views_and_strangers_store_nothing(backend: Backend) {
    let app = app_with_index(backend, INDEX).await;
    let (ws, site, owner) = owner_with_site(&app, "owner@acme.example", "shop.example").await;
    let store = app.db.store().await;
    let base = format!("/w/{}/sites/{}", ws.0, site.id.0);
    let create = format!("{base}/feeds");
    let res = owner
        .post_form(
            &create,
            &[("name", "Pricing"), ("query", "page=%2Fpricing*")],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);

    // The same name in other letters: 409, next to the name, the feed page around it.
    let res = owner
        .post_form(&create, &[("name", "PRICING"), ("query", "country=DE")])
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.body);
    assert!(
        res.body
            .contains("class=\"field-error\" id=\"f-name-error\">This site already has a saved feed called “PRICING”"),
        "{}",
        res.body
    );
    assert!(res.body.contains("value=\"PRICING\""));
    assert!(
        res.body
            .contains("Companies <span class=\"muted\">on shop.example")
    );

    // A bad filter: refused by name, next to the field.
    let res = owner
        .post_form(
            &create,
            &[("name", "Germany"), ("query", "country=Germany")],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert!(
        res.body.contains("id=\"f-name-error\">This view")
            && res
                .body
                .contains("filters cannot be saved: country: use a two-letter"),
        "{}",
        res.body
    );
    // Names: empty, too long, more than one line.
    for bad in ["  ", &"x".repeat(81), "two\nlines"] {
        let res = owner
            .post_form(&create, &[("name", bad), ("query", "period=7d")])
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{bad:?}: {}", res.body);
        assert!(res.body.contains("id=\"f-name-error\""), "{}", res.body);
    }
    assert_eq!(names(&store, site.id).await, ["Pricing"]);
    let id = leadsment::leads::store::saved::saved_feeds(&store, site.id)
        .await
        .unwrap()[0]
        .id;
    let delete = format!("{base}/feeds/{id}/delete");

    // A viewer: 403 on both.
    let viewer = member(&app, &store, ws, "vera@acme.example", Role::Viewer).await;
    let q = [("name", "Mine"), ("query", "period=7d")];
    assert_eq!(
        viewer.post_form(&create, &q).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        viewer.post_form(&delete, &[]).await.status,
        StatusCode::FORBIDDEN
    );

    // A member of another workspace: 404 with the victim's ids, and with their own site but
    // the victim's feed.
    let (ows, osite, outsider) =
        owner_with_site(&app, "mallory@evil.example", "evil.example").await;
    assert_eq!(
        outsider.post_form(&create, &q).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        outsider.post_form(&delete, &[]).await.status,
        StatusCode::NOT_FOUND
    );
    let theirs = format!("/w/{}/sites/{}/feeds/{id}/delete", ows.0, osite.id.0);
    assert_eq!(
        outsider.post_form(&theirs, &[]).await.status,
        StatusCode::NOT_FOUND
    );
    let mixed = format!("/w/{}/sites/{}/feeds", ows.0, site.id.0);
    assert_eq!(
        outsider.post_form(&mixed, &q).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(names(&store, osite.id).await.is_empty());
    assert!(
        !outsider
            .get(&format!("/w/{}/sites/{}", ows.0, osite.id.0))
            .await
            .body
            .contains("Pricing")
    );

    assert_eq!(names(&store, site.id).await, ["Pricing"]);
    store.close().await;
    app.shutdown().await.unwrap();
}

/// Saves `n` views of `site` straight in the store, as its workspace's first member.
async fn save_views(store: &Db, ws: WorkspaceId, site: &Site, n: usize) {
    let user = leadsment::accounts::store::members(store, ws)
        .await
        .unwrap()[0]
        .user
        .id;
    for i in 0..n {
        let name = format!("View {i:02}");
        leadsment::leads::store::saved::create_saved_feed(
            store,
            site.id,
            &name,
            &name.to_lowercase(),
            "period=7d",
            user,
            50,
        )
        .await
        .unwrap_or_else(|_| panic!("feed {i}"));
    }
}

async fn a_site_keeps_at_most_fifty_saved_feeds(backend: Backend) {
    let app = app_with_index(backend, INDEX).await;
    let (ws, site, owner) = owner_with_site(&app, "owner@acme.example", "shop.example").await;
    let store = app.db.store().await;
    save_views(&store, ws, &site, 50).await;
    let create = format!("/w/{}/sites/{}/feeds", ws.0, site.id.0);
    let res = owner
        .post_form(&create, &[("name", "One more"), ("query", "period=7d")])
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.body);
    assert!(
        res.body
            .contains("A site keeps at most 50 saved feeds. Delete one you no longer use first."),
        "{}",
        res.body
    );
    assert_eq!(names(&store, site.id).await.len(), 50);

    // A deleted workspace takes its sites' saved feeds with it.
    assert!(
        leadsment::accounts::store::delete_workspace(&store, ws)
            .await
            .unwrap()
    );
    let left: i64 = store
        .value(leadsment::store::sql("SELECT COUNT(*) FROM saved_feeds"))
        .await
        .unwrap();
    assert_eq!(left, 0);
    store.close().await;
    app.shutdown().await.unwrap();
}

/// Many saves at once never take a site past its 50 saved feeds.
async fn concurrent_saves_never_pass_the_cap(backend: Backend) {
    let app = app_with_index(backend, INDEX).await;
    let (ws, site, owner) = owner_with_site(&app, "owner@acme.example", "shop.example").await;
    let store = app.db.store().await;
    save_views(&store, ws, &site, 40).await;
    let create = format!("/w/{}/sites/{}/feeds", ws.0, site.id.0);
    let saves = (0..40).map(|i| {
        let (owner, create) = (&owner, &create);
        async move {
            let name = format!("Raced {i:02}");
            let res = owner
                .post_form(create, &[("name", name.as_str()), ("query", "period=7d")])
                .await;
            res.status
        }
    });
    let statuses = futures_util::future::join_all(saves).await;
    assert_eq!(names(&store, site.id).await.len(), 50, "{statuses:?}");
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!(refused, 30, "{statuses:?}");
    store.close().await;
    app.shutdown().await.unwrap();
}
