//! The challenge a person performs in the selfie video: 2 or 3 actions in a random order, with
//! a nonce and a deadline. Drawn when the session reaches its video stage and journaled, so the
//! video recorded for it is judged against it and no other; a video made for another session's
//! challenge fails unless the same actions happened to be drawn (45 possible challenges: 12 of
//! two actions, 33 of three).

use super::actions::Action;
use serde::{Deserialize, Serialize};

/// A challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Challenge {
    /// The actions, in the order they must be performed (`turn_left`, `turn_right`,
    /// `look_up`, `blink`).
    #[schema(value_type = Vec<String>)]
    pub actions: Vec<Action>,
    /// Identifies this challenge (random, 128 bits, hex).
    pub nonce: String,
    /// The video must be uploaded before this (Unix milliseconds).
    pub deadline_ms: u64,
}

impl Challenge {
    /// Draws 2 or 3 actions from `random` (a source of uniformly random numbers); no action
    /// follows itself, and a look up is asked at most once (it is the one the models measure
    /// least well).
    pub fn draw(mut random: impl FnMut() -> u64, nonce: String, deadline_ms: u64) -> Self {
        let len = 2 + (random() % 2) as usize;
        let mut actions: Vec<Action> = Vec::with_capacity(len);
        while actions.len() < len {
            let a = Action::ALL[(random() % Action::ALL.len() as u64) as usize];
            let repeats = actions.last() == Some(&a);
            let second_up = a == Action::LookUp && actions.contains(&Action::LookUp);
            if !repeats && !second_up {
                actions.push(a);
            }
        }
        Self {
            actions,
            nonce,
            deadline_ms,
        }
    }

    /// The actions as the command line writes them: `left,blink`.
    pub fn short(&self) -> String {
        let names: Vec<&str> = self.actions.iter().map(|a| a.short()).collect();
        names.join(",")
    }

    /// Parses `left,blink` (short or long names). Errors name the bad part.
    pub fn parse_actions(s: &str) -> Result<Vec<Action>, String> {
        let actions: Vec<Action> = s
            .split(',')
            .map(|p| {
                Action::parse(p)
                    .ok_or_else(|| format!("unknown action {p:?} (left, right, up, blink)"))
            })
            .collect::<Result<_, _>>()?;
        if actions.is_empty() {
            return Err("no action given".into());
        }
        Ok(actions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_vary_and_follow_the_rules() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut seen = std::collections::HashSet::new();
        for _ in 0..500 {
            let c = Challenge::draw(&mut next, "n".into(), 0);
            assert!((2..=3).contains(&c.actions.len()), "{c:?}");
            assert!(c.actions.windows(2).all(|w| w[0] != w[1]), "{c:?}");
            assert!(c.actions.iter().filter(|a| **a == Action::LookUp).count() <= 1);
            seen.insert(c.actions);
        }
        assert!(seen.len() > 30, "only {} different challenges", seen.len());
    }

    #[test]
    fn parses_the_command_line_form() {
        assert_eq!(
            Challenge::parse_actions("left, blink,turn_right").expect("parsed"),
            [Action::TurnLeft, Action::Blink, Action::TurnRight]
        );
        assert!(Challenge::parse_actions("left,jump").is_err());
    }
}
