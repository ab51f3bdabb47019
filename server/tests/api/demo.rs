//! Issue 19, item 11: `serve --demo` says how to use the demo on every start, the demo shop's
//! fixed (public) client ids and secrets included, and whether the shop was started for you.

use crate::helpers::TestApp;
use portcullis::demo::{self, DEMO_SHOP_APPS};

both_backends!(
    the_demo_banner_shows_the_shops_credentials_on_every_start,
    |backend| {
        let app = TestApp::spawn(&backend).await;

        let first = demo::banner(&app.state, false, false).await.unwrap();
        let again = demo::banner(&app.state, false, true).await.unwrap();
        for (name, client_id, secret, _, port) in DEMO_SHOP_APPS {
            for text in [&first, &again] {
                assert!(
                text.contains(&format!(
                    "{name} http://127.0.0.1:{port}/ — client_id {client_id} client_secret {secret}"
                )),
                "{text}"
            );
            }
        }
        // Where the shop is: how to start it, or that it was started (never both).
        assert!(
            first.contains("start it with `cargo run -p portcullis-demo-shop`"),
            "{first}"
        );
        assert!(!first.contains("started by `cargo xtask dev`"), "{first}");
        assert!(again.contains("started by `cargo xtask dev`"), "{again}");
        assert!(
            !again.contains("cargo run -p portcullis-demo-shop"),
            "{again}"
        );
        assert!(
            !again.contains("warning"),
            "registered for these ports: {again}"
        );

        // The JSON form: every app with its secret each time, `apps_created` only the first time.
        let json: serde_json::Value =
            serde_json::from_str(&demo::banner(&app.state, true, true).await.unwrap()).unwrap();
        assert_eq!(json["apps"].as_array().unwrap().len(), DEMO_SHOP_APPS.len());
        assert_eq!(json["apps"][1]["client_secret"], DEMO_SHOP_APPS[1].2);
        assert_eq!(json["apps_created"].as_array().unwrap().len(), 0);

        // The secrets shown are the ones that work at the token endpoint (and only they).
        let org = app.state.orgs.find("demo").await.unwrap();
        let (_, client_id, secret, _, _) = DEMO_SHOP_APPS[0];
        let apps = &app.state.apps;
        assert!(apps.verify_secret(&org, client_id, secret).await.unwrap());
        assert!(
            !apps
                .verify_secret(&org, client_id, "demo-catalog-secreT")
                .await
                .unwrap()
        );
    }
);
