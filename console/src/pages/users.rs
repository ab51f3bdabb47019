//! Users (`/console/{org}/users`): search, the actions on one (disable, reset keys, sign out,
//! invite) and the details of one at its own URL (`/console/{org}/users/{id}`).

use leptos::ev::MouseEvent;
use leptos::prelude::*;
use portcullis_api_types::{Page, SessionView, UserView};

use crate::api::{Auth, bump, enc, fetch_into, post, spawn_call, watch};
use crate::pages::paging::{Pager, UrlQuery};
use crate::ui::{Empty, ErrorNote, Time, Toasts};

/// An action on a user: their id, the action's path segment, and what to say once it is done.
type UserAction = (String, &'static str, &'static str);

/// The filters of the users list, as the URL and the API name them.
const KEYS: &[&str] = &["q", "status", "verified"];

#[component]
pub(crate) fn Users(auth: Auth, selected: Signal<Option<String>>) -> impl IntoView {
    let users = RwSignal::new(None::<Page<UserView>>);
    let error = RwSignal::new(None::<String>);
    let toasts = expect_context::<Toasts>();
    let reload = RwSignal::new(0u32);
    let query = UrlQuery::new(KEYS);
    watch(
        auth.clone(),
        move || {
            reload.track();
            query.api_path("/users")
        },
        users,
        error,
    );
    let (q, status, verified) = (query.get("q"), query.get("status"), query.get("verified"));
    let set = query.setter();
    let (set_status, set_verified) = (set.clone(), set.clone());
    let auth_detail = auth.clone();
    let org = auth.org.clone();
    let act = Callback::new(move |(id, action, label): UserAction| {
        let request = post(auth.clone(), format!("/users/{id}/{action}"));
        spawn_call(request, error, move |_: serde_json::Value| {
            toasts.show("user-notice", label);
            bump(reload);
        });
    });
    view! {
        <section data-testid="users-page">
            <h2>"Users"</h2>
            {move || selected.get().map(|id| view! { <UserDetail auth=auth_detail.clone() id=id reload=reload /> })}
            <div class="filters">
                <label for="user-search">"Search by email"</label>
                <input id="user-search" type="search" data-testid="user-search" prop:value=move || q.get()
                    on:change=move |ev| set("q", event_target_value(&ev).trim().to_owned()) />
                <label for="user-status">"Status"</label>
                <select id="user-status" data-testid="user-filter-status" prop:value=move || status.get()
                    on:change=move |ev| set_status("status", event_target_value(&ev))>
                    <option value="">"Any"</option><option value="active">"Active"</option><option value="disabled">"Disabled"</option>
                </select>
                <label for="user-verified-filter">"Email"</label>
                <select id="user-verified-filter" data-testid="user-filter-verified" prop:value=move || verified.get()
                    on:change=move |ev| set_verified("verified", event_target_value(&ev))>
                    <option value="">"Any"</option><option value="true">"Verified"</option><option value="false">"Not verified"</option>
                </select>
            </div>
            <ErrorNote error=error />
            <table>
                <thead><tr><th>"Email"</th><th>"Verified"</th><th>"Role"</th><th>"Status"</th><th>"Keys"</th><th></th></tr></thead>
                <tbody>
                    {move || users.get().map(|p| p.items.into_iter().map(|u| view! {
                        <UserRow user=u act=act org=org.clone() />
                    }).collect_view())}
                </tbody>
            </table>
            <Empty list=users test_id="users-empty"
                text="No user matches. Clear the filters, or create users with the CLI or the admin API." />
            <Pager list=users query=query />
        </section>
    }
}

/// A user in the list, with the buttons of the actions on them.
#[component]
fn UserRow(user: UserView, act: Callback<UserAction>, org: String) -> impl IntoView {
    let id = user.id.clone();
    let run = move |action: &'static str, label: &'static str| {
        let id = id.clone();
        move |_: MouseEvent| act.run((id.clone(), action, label))
    };
    let detail = format!("/console/{org}/users/{}", enc(&user.id));
    let active = user.active;
    view! {
        <tr data-testid="user-row">
            <td>{user.email}</td>
            <td data-testid="user-verified">{if user.email_verified { "yes" } else { "no" }}</td>
            <td>{user.role}</td>
            <td>{if active { "active" } else { "disabled" }}</td>
            <td>{user.credentials.len()}</td>
            <td>
                {if active {
                    view! { <button type="button" on:click=run("disable", "User disabled; their sessions ended.")>"Disable"</button> }.into_any()
                } else {
                    view! { <button type="button" on:click=run("enable", "User enabled.")>"Enable"</button> }.into_any()
                }}
                <button type="button" on:click=run("reset-mfa", "Keys removed; their sessions ended.")>"Reset MFA"</button>
                <button type="button" data-testid="user-sign-out" on:click=run("sign-out-everywhere", "Signed out everywhere; every app was told.")>"Sign out everywhere"</button>
                <button type="button" data-testid="user-invite" title="Email a link to set up the account with a password or a passkey; older links stop working" on:click=run("invite", "Invitation sent; older links stop working.")>"Send invitation"</button>
                <a href=detail data-testid="user-details">"Details"</a>
            </td>
        </tr>
    }
}

/// The user at `/console/{org}/users/{id}`: loads them (again whenever the list reloads, after
/// an action), then their details.
#[component]
fn UserDetail(auth: Auth, id: String, reload: RwSignal<u32>) -> impl IntoView {
    let user = RwSignal::new(None::<UserView>);
    let error = RwSignal::new(None::<String>);
    let path = format!("/users/{}", enc(&id));
    watch(
        auth.clone(),
        move || {
            reload.track();
            path.clone()
        },
        user,
        error,
    );
    view! {
        <ErrorNote error=error />
        {move || user.get().map(|u| view! { <UserDetails auth=auth.clone() user=u /> })}
    }
}

/// One user: their live sign-in sessions with the app sessions under each, and their keys.
#[component]
fn UserDetails(auth: Auth, user: UserView) -> impl IntoView {
    let sessions = RwSignal::new(None::<Page<SessionView>>);
    let error = RwSignal::new(None::<String>);
    let path = format!("/users/{}/sessions?per_page=50", enc(&user.id));
    let org = auth.org.clone();
    fetch_into(auth, path, sessions, error);
    view! {
        <section data-testid="user-detail" aria-label="User details">
            <h3>{user.email.clone()}</h3>
            <ErrorNote error=error />
            <h4>"Signed in"</h4>
            <ul>
                {move || sessions.get().map(|p| p.items.into_iter().map(|s| {
                    let href = format!("/console/{org}/sessions/{}", enc(&s.id));
                    let ended = s.ended_at.clone().map(|at| view! { " — ended " <Time at=at /> ", an app session outlives it" });
                    view! {
                        <li data-testid="user-session"><a href=href data-testid="user-session-link">"Signed in " <Time at=s.created_at /></a>
                            " — " {s.user_agent.unwrap_or_default()} {ended} " — apps: "
                            {s.app_sessions.iter().map(|a| a.client_id.clone()).collect::<Vec<_>>().join(", ")}</li>
                    }
                }).collect_view())}
            </ul>
            <p>"Email address: " {if user.email_verified { "verified" } else { "not verified" }}</p>
            <h4>"Pending email links"</h4>
            {user.pending_links.is_empty().then(|| view! { <p data-testid="no-pending-links">"None."</p> })}
            <ul>
                {user.pending_links.iter().map(|l| view! {
                    <li data-testid="pending-link">{l.purpose.clone()} {l.new_email.clone().map(|e| format!(" ({e})")).unwrap_or_default()} ", sent " <Time at=l.created_at.clone() /> ", expires " <Time at=l.expires_at.clone() /></li>
                }).collect_view()}
            </ul>
            <h4>"Security keys and passkeys"</h4>
            <ul>
                {user.credentials.iter().map(|c| view! {
                    <li data-testid="user-key">{c.name.clone()} " (" {c.kind.clone()} "), added " <Time at=c.created_at.clone() /></li>
                }).collect_view()}
            </ul>
        </section>
    }
}
