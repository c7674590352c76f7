//! The line shown for each event, in plain words, read from the
//! directory as it was before the event is applied (so a group that was
//! renamed or left still has its old name here). Events that ask
//! something of the user (a friend request, an invite) say how to answer.

use chat_proto::{EndReason, Event, Group, Visibility};

use super::{
    Clock, cell, group_label, group_of, msg_line, online_word, role_phrase, someone, user_label,
    who,
};
use crate::state::Directory;

/// Who did it: `you` for ourselves, else the user in a sentence.
fn by(dir: &Directory, id: u64) -> String {
    if id == dir.my_id() {
        "you".into()
    } else {
        someone(dir, id)
    }
}

/// `group NAME(ID)`, or `group ID` for one we do not know.
fn group_named(dir: &Directory, id: u64) -> String {
    format!("group {}", group_label(dir, id))
}

/// What an update changed, compared with what we knew.
pub fn group_update(dir: &Directory, new: &Group) -> String {
    let Some(old) = dir.group(new.id) else {
        return format!("group {} was updated", group_of(new));
    };
    let label = group_label(dir, new.id);
    let mut changes = Vec::new();
    if old.name != new.name {
        changes.push(format!("is now called {}", cell(&new.name)));
    }
    if old.desc != new.desc {
        changes.push(if new.desc.is_empty() {
            "has no description now".to_owned()
        } else {
            format!("has a new description: {}", cell(&new.desc))
        });
    }
    if old.visibility != new.visibility {
        changes.push(match new.visibility {
            Visibility::Private => "is now private: only invited users can join".to_owned(),
            Visibility::Public => {
                format!("is now public: anyone can join with joingroup:{}", new.id)
            }
        });
    }
    if changes.is_empty() {
        return format!("group {label} was updated");
    }
    format!("group {label} {}", changes.join("; it "))
}

/// The line shown for an event, read from `dir` as it was before the
/// event is applied.
pub fn event_line(dir: &Directory, clock: Clock, ev: &Event) -> String {
    match ev {
        Event::Msg { msg } => msg_line(dir, clock, msg),
        Event::Presence { user, online } => {
            format!("{} is now {}", who(dir, *user), online_word(Some(*online)))
        }
        Event::FriendRequest { user } => format!(
            "{} wants to be your friend: accept:{id} to accept, decline:{id} to decline",
            user_label(user),
            id = user.id
        ),
        Event::FriendRequestCancelled { user } => {
            format!("{} took back their friend request", someone(dir, *user))
        }
        Event::FriendAdded { user } => {
            format!("you and {} are friends now", user_label(user))
        }
        Event::FriendRemoved { user } => {
            format!("{} is no longer your friend", someone(dir, *user))
        }
        Event::GroupInvite { group, by } => {
            let kind = match group.visibility {
                Visibility::Private => "private group",
                Visibility::Public => "group",
            };
            format!(
                "{} invites you to {kind} {}: joingroup:{id} to join, declineinvite:{id} to \
                 decline",
                user_label(by),
                group_of(group),
                id = group.id
            )
        }
        Event::GroupUpdated { group } => group_update(dir, group),
        Event::GroupDeleted { group } => {
            format!("{} was deleted by its creator", group_named(dir, *group))
        }
        Event::MemberJoined { group, user } => {
            format!("{} joined {}", user_label(user), group_named(dir, *group))
        }
        Event::MemberLeft {
            group,
            user,
            by: None,
        } => format!("{} left {}", user_label(user), group_named(dir, *group)),
        Event::MemberLeft {
            group,
            user,
            by: Some(kicker),
        } => format!(
            "{} was removed from {} by {}",
            user_label(user),
            group_named(dir, *group),
            by(dir, *kicker)
        ),
        Event::RemovedFromGroup { group, by: kicker } => format!(
            "you were removed from {} by {}",
            group_named(dir, *group),
            someone(dir, *kicker)
        ),
        Event::MemberRole { group, user, role } => {
            let whom = if *user == dir.my_id() {
                "you are".to_owned()
            } else {
                format!("{} is", someone(dir, *user))
            };
            format!(
                "{whom} now {} of {}",
                role_phrase(*role),
                group_named(dir, *group)
            )
        }
        Event::SessionEnded { reason } => format!("this session was ended: {}", ended(*reason)),
    }
}

/// Why another session ended this one, in plain words.
fn ended(reason: EndReason) -> &'static str {
    match reason {
        EndReason::PasswordChanged => "your password was changed on another device",
        EndReason::AccountDeleted => "your account was deleted on another device",
        EndReason::LoggedOut => "you logged out everywhere on another device",
    }
}

#[cfg(test)]
mod tests {
    use chat_proto::{Role, User};

    use super::super::testdata::{g, kirito, u};
    use super::*;

    #[test]
    fn version_1_events() {
        let d = kirito();
        let line = |ev: Event| event_line(&d, Clock::Utc, &ev);
        assert_eq!(
            line(Event::Presence {
                user: 2001,
                online: true
            }),
            "kir(2001) is now online"
        );
        assert_eq!(
            line(Event::FriendAdded {
                user: u(5, "sam", true)
            }),
            "you and sam(5) are friends now"
        );
        assert_eq!(
            line(Event::FriendRemoved { user: 2002 }),
            "Tom(2002) is no longer your friend"
        );
        assert_eq!(
            line(Event::GroupDeleted { group: 1 }),
            "group happy game(1) was deleted by its creator"
        );
        assert_eq!(
            line(Event::GroupDeleted { group: 8 }),
            "group 8 was deleted by its creator"
        );
        assert_eq!(
            line(Event::MemberJoined {
                group: 1,
                user: u(5, "sam", true)
            }),
            "sam(5) joined group happy game(1)"
        );
        assert_eq!(
            line(Event::MemberLeft {
                group: 8,
                user: u(5, "sam", false),
                by: None
            }),
            "sam(5) left group 8"
        );
    }

    #[test]
    fn requests_and_invites_say_how_to_answer() {
        let d = kirito();
        let line = |ev: Event| event_line(&d, Clock::Utc, &ev);
        let ann = User {
            id: 7,
            name: "ann".into(),
            online: None,
        };
        assert_eq!(
            line(Event::FriendRequest { user: ann.clone() }),
            "ann(7) wants to be your friend: accept:7 to accept, decline:7 to decline"
        );
        assert_eq!(
            line(Event::FriendRequestCancelled { user: 2001 }),
            "kir(2001) took back their friend request"
        );
        assert_eq!(
            line(Event::FriendRequestCancelled { user: 99 }),
            "user 99 took back their friend request"
        );
        let mut club = g(42, "club", "");
        club.role = None;
        club.visibility = Visibility::Private;
        assert_eq!(
            line(Event::GroupInvite {
                group: club,
                by: ann
            }),
            "ann(7) invites you to private group club(42): joingroup:42 to join, \
             declineinvite:42 to decline"
        );
    }

    #[test]
    fn kicks_roles_and_updates_say_who() {
        let d = kirito();
        let line = |ev: Event| event_line(&d, Clock::Utc, &ev);
        assert_eq!(
            line(Event::MemberLeft {
                group: 1,
                user: u(5, "sam", false),
                by: Some(2001)
            }),
            "sam(5) was removed from group happy game(1) by kir(2001)"
        );
        assert_eq!(
            line(Event::MemberLeft {
                group: 1,
                user: u(5, "sam", false),
                by: Some(2019)
            }),
            "sam(5) was removed from group happy game(1) by you"
        );
        assert_eq!(
            line(Event::RemovedFromGroup { group: 1, by: 2002 }),
            "you were removed from group happy game(1) by Tom(2002)"
        );
        assert_eq!(
            line(Event::MemberRole {
                group: 1,
                user: 2019,
                role: Role::Admin
            }),
            "you are now an admin of group happy game(1)"
        );
        assert_eq!(
            line(Event::MemberRole {
                group: 1,
                user: 2001,
                role: Role::Creator
            }),
            "kir(2001) is now the creator of group happy game(1)"
        );
        assert_eq!(
            line(Event::MemberRole {
                group: 1,
                user: 2001,
                role: Role::Member
            }),
            "kir(2001) is now a plain member of group happy game(1)"
        );
        let mut renamed = g(1, "sad game", "happy play");
        renamed.role = None;
        assert_eq!(
            line(Event::GroupUpdated {
                group: renamed.clone()
            }),
            "group happy game(1) is now called sad game"
        );
        renamed.visibility = Visibility::Private;
        renamed.desc = String::new();
        assert_eq!(
            line(Event::GroupUpdated { group: renamed }),
            "group happy game(1) is now called sad game; it has no description now; it is now \
             private: only invited users can join"
        );
        let mut open = g(200001, "blue", "blue test");
        open.visibility = Visibility::Public;
        assert_eq!(
            line(Event::GroupUpdated { group: open }),
            "group blue(200001) was updated"
        );
    }

    #[test]
    fn ended_sessions_say_why() {
        let d = kirito();
        assert_eq!(
            event_line(
                &d,
                Clock::Utc,
                &Event::SessionEnded {
                    reason: EndReason::PasswordChanged
                }
            ),
            "this session was ended: your password was changed on another device"
        );
        assert!(ended(EndReason::AccountDeleted).contains("deleted"));
        assert!(ended(EndReason::LoggedOut).contains("logged out everywhere"));
    }
}
