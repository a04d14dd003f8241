//! Two browser users register, befriend, chat both ways, and see presence,
//! delivered and read marks and typing.

use serde_json::json;

use crate::common::temp_data_dir;
use crate::harness::{run, serial, Driver, WebServer, DESKTOP, PHONE};

/// The mark on ann's message `seq` in the open conversation ("sent", "delivered", "read").
const MARK: &str = "return document.querySelector(`#timeline .msg[data-seq=\"${arguments[0]}\"] .mark`)?.dataset.mark ?? null";

#[test]
fn two_browser_users_befriend_chat_and_see_presence_receipts_and_typing() {
    let _serial = serial();
    run(async {
        let (_tmp, data) = temp_data_dir();
        let server = WebServer::start(&data, None);
        let driver = Driver::start();
        let ann = driver.page("ann", &server.url(), DESKTOP).await;
        let bob = driver.page("bob", &server.url(), DESKTOP).await;

        ann.wait_for(
            "the login screen",
            "return !!document.querySelector('#login-user')",
            vec![],
        )
        .await;
        ann.screenshot("01-login").await;
        // A wrong password is a clear sentence, not a code.
        ann.type_into("#login-user", "nobody").await;
        ann.type_into("#login-password", "wrong password\u{E007}")
            .await;
        let error = ann
            .wait_for(
                "the login error",
                "return document.querySelector('#login-error')?.textContent",
                vec![],
            )
            .await;
        assert_eq!(error, "Wrong username or password.");
        ann.js("document.querySelector('#login-user').value = ''; document.querySelector('#login-password').value = ''", vec![]).await;

        ann.register("ann").await;
        bob.register("bob").await;
        // The device id the server issued is kept for the next login.
        let device = ann
            .js(
                "return localStorage.getItem('chatcore.device.' + location.host + '.ann')",
                vec![],
            )
            .await;
        assert!(
            device.as_str().is_some_and(|d| d.parse::<u64>().is_ok()),
            "device id kept: {device}"
        );
        // Settings list it as this browser; Esc closes them.
        ann.click("#menu-button").await;
        ann.wait_for(
            "this browser among the devices",
            "return document.querySelector(`#device-list .result[data-device=\"${arguments[0]}\"]`)?.textContent.includes('this browser')",
            vec![json!(device.as_str().expect("id").parse::<u64>().expect("numeric"))],
        )
        .await;
        ann.screenshot("02-settings").await;
        ann.press_escape().await;
        ann.wait_for(
            "the dialog closed",
            "return !document.querySelector('dialog')",
            vec![],
        )
        .await;

        // ann finds bob and asks; bob accepts from his sidebar.
        ann.click("#add-friend").await;
        ann.type_into("#search-input", "bo").await;
        ann.type_into("#friend-note", "hi :wave:").await;
        ann.wait_for(
            "bob in the search results",
            "return !!document.querySelector('#search-results .result[data-user=\"bob\"]')",
            vec![],
        )
        .await;
        ann.screenshot("02-add-friend").await;
        ann.click("#search-results .result[data-user=\"bob\"] button[data-action=\"add\"]")
            .await;
        bob.wait_for("ann's request with her note", "return document.querySelector('.request[data-user=\"ann\"] .note')?.textContent === '“hi 👋”'", vec![]).await;
        bob.screenshot("03-friend-request").await;
        bob.click(".request[data-user=\"ann\"] button[data-action=\"accept\"]")
            .await;

        // Presence: each sees the other online.
        ann.wait_for(
            "bob online",
            "return document.querySelector('.conv[data-key=\"@bob\"]')?.dataset.online === 'true'",
            vec![],
        )
        .await;
        bob.wait_for(
            "ann online",
            "return document.querySelector('.conv[data-key=\"@ann\"]')?.dataset.online === 'true'",
            vec![],
        )
        .await;

        // ann writes while bob has not opened the chat: sent, then delivered (bob's
        // page took it in), with an unread badge on bob's side.
        ann.open("@bob").await;
        ann.send("hello bob :smile:").await;
        assert_eq!(
            ann.messages().await,
            vec![(1, "ann".into(), "hello bob 😄".into())]
        );
        ann.wait_for(
            "the delivered mark",
            &format!("{MARK} === 'delivered'"),
            vec![json!(1)],
        )
        .await;
        bob.wait_for(
            "an unread badge",
            "return document.querySelector('.conv[data-key=\"@ann\"] .badge')?.textContent === '1'",
            vec![],
        )
        .await;

        // bob types: ann sees it; bob opens the chat: ann's mark turns to read.
        bob.open("@ann").await;
        bob.wait_for(
            "the new-messages line above ann's message",
            "return document.querySelector('.new-line')?.nextElementSibling?.dataset.seq === '1'",
            vec![],
        )
        .await;
        bob.screenshot("04-new-messages").await;
        bob.type_into("#composer", "hey").await;
        ann.wait_for(
            "bob is typing",
            "return document.querySelector('#typing')?.textContent === 'bob is typing…'",
            vec![],
        )
        .await;
        ann.screenshot("04-chat-typing").await;
        ann.wait_for(
            "the read mark",
            &format!("{MARK} === 'read'"),
            vec![json!(1)],
        )
        .await;
        bob.wait_for(
            "no badge once read",
            "return !document.querySelector('.conv[data-key=\"@ann\"] .badge')",
            vec![],
        )
        .await;

        // bob answers; both sides show one conversation in one order.
        bob.type_into("#composer", " ann, nice to see you :tada:\u{E007}")
            .await;
        bob.wait_for("bob's message stored", "return document.querySelectorAll('.msg[data-pending]').length === 0 && document.querySelectorAll('#timeline .msg[data-seq]').length === 2", vec![]).await;
        let expected = vec![
            (1, "ann".to_string(), "hello bob 😄".to_string()),
            (2, "bob".into(), "hey ann, nice to see you 🎉".into()),
        ];
        ann.wait_for(
            "bob's answer",
            "return document.querySelectorAll('#timeline .msg[data-seq]').length === 2",
            vec![],
        )
        .await;
        assert_eq!(ann.messages().await, expected);
        assert_eq!(bob.messages().await, expected);
        ann.wait_for(
            "typing cleared by the message",
            "return document.querySelector('#typing')?.textContent === ''",
            vec![],
        )
        .await;
        bob.wait_for(
            "bob's message read by ann",
            &format!("{MARK} === 'read'"),
            vec![json!(2)],
        )
        .await;
        ann.send("see you :wave:").await;
        // The emoji picker: opened, an emoji chosen into the composer, Enter.
        ann.click("#emoji-button").await;
        ann.wait_for(
            "the picker open",
            "return !document.querySelector('#emoji-picker').hidden",
            vec![],
        )
        .await;
        ann.screenshot("05-emoji-picker").await;
        ann.click("#emoji-picker button[title=\":tada:\"]").await;
        ann.wait_for(
            "the emoji in the composer, the picker closed",
            "return document.querySelector('#composer').value === '🎉' && document.querySelector('#emoji-picker').hidden",
            vec![],
        )
        .await;
        // A shortcode being typed is suggested; Tab takes the suggestion.
        ann.type_into("#composer", " :ta").await;
        ann.wait_for("suggestions for :ta", "return !document.querySelector('#emoji-suggestions').hidden && document.querySelector('#emoji-suggestions').textContent.includes(':tada:')", vec![]).await;
        ann.screenshot("05-shortcode-suggestions").await;
        ann.type_into("#composer", "da").await;
        ann.type_into("#composer", "\u{E004}").await; // Tab
        ann.wait_for("the suggestion taken", "return document.querySelector('#composer').value === '🎉 🎉' && document.querySelector('#emoji-suggestions').hidden", vec![]).await;
        ann.type_into("#composer", " done\u{E007}").await;
        ann.wait_for(
            "the picker closed",
            "return document.querySelector('#emoji-picker').hidden",
            vec![],
        )
        .await;
        ann.screenshot("05-chat").await;
        bob.wait_for(
            "the fourth message",
            "return [...document.querySelectorAll('#timeline .msg[data-seq] .text')].map(t => t.textContent).join('|') === 'hello bob 😄|hey ann, nice to see you 🎉|see you 👋|🎉 🎉 done'",
            vec![],
        )
        .await;

        // The phone-sized layout: one pane at a time, with a way back.
        bob.client
            .set_window_size(PHONE.0, PHONE.1)
            .await
            .expect("phone size");
        bob.wait_for("the phone layout", "return getComputedStyle(document.querySelector('#back-button')).display !== 'none' && getComputedStyle(document.querySelector('#sidebar')).display === 'none'", vec![]).await;
        bob.screenshot("06-phone-chat").await;
        bob.press_escape().await; // Esc is the back button on a phone
        bob.wait_for("the list on a phone", "return getComputedStyle(document.querySelector('#sidebar')).display !== 'none' && getComputedStyle(document.querySelector('#chat')).display === 'none'", vec![]).await;
        bob.screenshot("07-phone-list").await;

        // The same conversation in dark mode (the system's choice).
        let dark = driver
            .page_with("ann (dark)", &server.url(), DESKTOP, &["--force-dark-mode"])
            .await;
        dark.log_in("ann").await;
        dark.open("@bob").await;
        dark.wait_for("the conversation", "return document.querySelectorAll('#timeline .msg[data-seq]').length === 4 && matchMedia('(prefers-color-scheme: dark)').matches", vec![]).await;
        dark.screenshot("05-chat-dark").await;
        dark.close().await;

        // bob leaves: ann sees him go offline.
        bob.close().await;
        ann.wait_for(
            "bob offline",
            "return document.querySelector('.conv[data-key=\"@bob\"]')?.dataset.online === 'false'",
            vec![],
        )
        .await;
        assert_eq!(
            ann.js(
                "return document.querySelector('#chat-sub').textContent",
                vec![]
            )
            .await,
            "offline"
        );
        ann.close().await;
    });
}
