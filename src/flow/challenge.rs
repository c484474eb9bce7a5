//! The session's liveness challenge: drawn when the ID card is accepted (the person is about
//! to record the video), journaled as an artifact and sent with that step's event, so the
//! browser shows it as prompts; the video job judges the video against it and no other.

use actors::session::Message;
use anyhow::Context;
use vision::liveness::actions::Action;
use vision::liveness::challenge::Challenge;
use vision::liveness::verdict::Mode;

use crate::settings::Settings;

/// A fresh challenge, or `None` when the session's liveness `mode` is not `challenge`.
pub(crate) fn draw(settings: &Settings, mode: Mode) -> anyhow::Result<Option<Challenge>> {
    if mode != Mode::Challenge {
        return Ok(None);
    }
    let mut failed = None;
    let random = || {
        getrandom::u64().unwrap_or_else(|e| {
            failed = Some(e);
            0
        })
    };
    let deadline = actors::session::event::now_ms() + settings.liveness.challenge_secs * 1000;
    let challenge = Challenge::draw(random, uuid::Uuid::new_v4().simple().to_string(), deadline);
    if let Some(e) = failed {
        return Err(anyhow::anyhow!("{e}")).context("the system's random source");
    }
    Ok(Some(challenge))
}

fn phrase(a: Action) -> (&'static str, &'static str) {
    match a {
        Action::TurnLeft => ("turn your head to your left", "고개를 왼쪽으로 돌리세요"),
        Action::TurnRight => ("turn your head to your right", "고개를 오른쪽으로 돌리세요"),
        Action::LookUp => ("look up", "위를 바라보세요"),
        Action::Blink => ("blink", "눈을 깜빡이세요"),
    }
}

/// What the person is asked, in both languages: "In the video, turn your head to your left,
/// then blink."
pub(crate) fn prompts(c: &Challenge) -> Message {
    let (en, ko): (Vec<&str>, Vec<&str>) = c.actions.iter().map(|a| phrase(*a)).unzip();
    Message::new(
        format!("In the video, {}.", en.join(", then ")),
        format!("영상에서 {}.", ko.join(", 그다음 ")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_name_every_action_in_order() {
        let c = Challenge {
            actions: vec![Action::TurnLeft, Action::Blink],
            nonce: "n".into(),
            deadline_ms: 0,
        };
        let m = prompts(&c);
        assert_eq!(
            m.en,
            "In the video, turn your head to your left, then blink."
        );
        assert!(m.ko.contains("왼쪽") && m.ko.contains("깜빡"), "{}", m.ko);
    }

    #[test]
    fn a_challenge_is_drawn_only_in_challenge_mode() {
        let s = crate::settings::SettingsBuilder::with_vars([("KYC__LIVENESS__MODE", "off")])
            .build()
            .expect("settings");
        let c = draw(&s, Mode::Challenge)
            .expect("drawn")
            .expect("a challenge");
        assert!((2..=3).contains(&c.actions.len()));
        assert_eq!(c.nonce.len(), 32);
        for mode in [Mode::Off, Mode::Passive] {
            assert!(draw(&s, mode).expect("drawn").is_none());
        }
    }
}
