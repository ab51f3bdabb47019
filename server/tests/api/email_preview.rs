//! `POST /api/v1/orgs/{org}/email-templates/{kind}/preview`: the posted template rendered as the
//! mailer would send it, checked like a PUT, stored nowhere, for the org's own admins only.

use crate::email::admin_token;
use crate::helpers::{TestApp, org_with_alice};

both_backends!(
    email_template_preview_renders_without_storing_and_only_for_the_orgs_admins,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        org_with_alice(&app, "acme").await;
        let globex = org_with_alice(&app, "globex").await;
        app.state
            .orgs
            .update("acme", None, None, Some("#aa3300"), "test")
            .await
            .unwrap();
        let acme = app.state.orgs.find("acme").await.unwrap();
        let token = admin_token(&app, &acme).await;
        let url = |org: &str, kind: &str| {
            format!(
                "{}/api/v1/orgs/{org}/email-templates/{kind}/preview",
                app.address
            )
        };
        let body = serde_json::json!({
            "subject": "New password for {{email}} at {{org_name}}",
            "text": "Hello <b>{{email}}</b>, open {{link}} within {{valid_for}}",
            "html": "<p class=\"x\">Hi {{email}}</p><a href=\"{{link}}\">Go</a>",
        });

        let res = app
            .client
            .post(url("acme", "password_reset"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let p: serde_json::Value = res.json().await.unwrap();
        assert_eq!(p["to"], "user@example.com");
        assert_eq!(
            p["subject"],
            format!("New password for user@example.com at {}", acme.name)
        );
        let text = p["text"].as_str().unwrap();
        assert!(
            text.starts_with("Hello <b>user@example.com</b>, open https://"),
            "{text}"
        );
        assert!(text.contains("within 1 hour"), "{text}");
        assert!(!text.contains("{{"), "{text}");
        let html = p["html"].as_str().unwrap();
        // The mailer's frame (the org's accent colour) around the filled, escaped body.
        assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
        assert!(html.contains("border-top:4px solid #aa3300"), "{html}");
        assert!(
            html.contains("<p class=\"x\">Hi user@example.com</p>"),
            "{html}"
        );
        assert!(!html.contains("{{link}}"), "{html}");

        // Nothing was stored: the org still uses the built-in template.
        let list: serde_json::Value = app
            .client
            .get(format!("{}/api/v1/orgs/acme/email-templates", app.address))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            list.as_array()
                .unwrap()
                .iter()
                .all(|k| k["custom"] == false)
        );

        // Checked like a PUT: 422 naming the field; an unknown kind is 404.
        let bad = app
            .client
            .post(url("acme", "password_reset"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "subject": "Reset", "text": "no link", "html": "{{link}}" }))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 422);
        let problem: serde_json::Value = bad.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], "text", "{problem}");
        let unknown = app
            .client
            .post(url("acme", "nope"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status(), 404);

        // Another org's admin is refused; no token is 401.
        let other = admin_token(&app, &globex).await;
        let refused = app
            .client
            .post(url("acme", "password_reset"))
            .bearer_auth(&other)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403);
        let anonymous = app
            .client
            .post(url("acme", "password_reset"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 401);
    }
);
