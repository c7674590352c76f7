//! The JSON of every frame of protocol version 2, pinned (so wire changes
//! show up in review), checked against the contract's lists of ops, events
//! and error codes, and properties: every frame round-trips, and no input
//! panics the decoder. The field rules of the decoder are in `fields.rs`.

use std::collections::BTreeSet;
use std::fmt::Debug;

use chat_proto::reply::{
    self, Empty, ErrorBody, FriendAdded, FriendRequested, FriendStatus, GroupReply, History, Lists,
    LoggedIn, Members, NewToken, Registered, ReplyError, Sent, Synced, Whoami,
};
use chat_proto::request::{Credential, Frame, HistoryTarget, Op, Request, RequestFrame};
use chat_proto::{
    EndReason, ErrorCode, Event, Group, Invite, LineDecoder, Member, Msg, MsgRef, Role,
    ServerFrame, User, Visibility,
};
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The ops of the contract's table, in its order.
const CONTRACT_OPS: [&str; 30] = [
    "ping",
    "register",
    "login",
    "logout",
    "whoami",
    "sync",
    "add_friend",
    "accept_friend",
    "decline_friend",
    "cancel_friend",
    "block",
    "unblock",
    "change_password",
    "delete_account",
    "remove_friend",
    "chat",
    "create_group",
    "update_group",
    "join_group",
    "invite",
    "decline_invite",
    "kick",
    "set_role",
    "transfer_group",
    "quit_group",
    "delete_group",
    "group_members",
    "group_chat",
    "history",
    "ack",
];

/// The events of the contract's table, in its order.
const CONTRACT_EVENTS: [&str; 14] = [
    "msg",
    "presence",
    "friend_request",
    "friend_request_cancelled",
    "friend_added",
    "friend_removed",
    "group_invite",
    "group_updated",
    "group_deleted",
    "member_joined",
    "member_left",
    "removed_from_group",
    "member_role",
    "session_ended",
];

/// The error codes of the contract: the common ones, then the op-specific
/// ones, in its order.
const CONTRACT_CODES: [&str; 18] = [
    "bad_json",
    "frame_too_large",
    "unknown_op",
    "bad_request",
    "not_logged_in",
    "rate_limited",
    "unavailable",
    "internal",
    "bad_credentials",
    "already_logged_in",
    "no_such_user",
    "no_such_group",
    "already_friends",
    "not_friend",
    "already_member",
    "not_member",
    "forbidden",
    "no_such_request",
];

// ---------------------------------------------------------------------------
// Helpers and fixtures

fn line(frame: &RequestFrame) -> String {
    String::from_utf8(frame.to_line()).unwrap()
}

fn decode(s: &str) -> Result<(Option<u64>, Request), String> {
    let f = Frame::parse(s.as_bytes()).map_err(|e| e.to_string())?;
    let r = f.request().map_err(|e| e.to_string())?;
    Ok((f.id, r))
}

fn rq(id: Option<u64>, request: Request) -> RequestFrame {
    RequestFrame { id, request }
}

fn user(id: u64, name: &str, online: Option<bool>) -> User {
    User {
        id,
        name: name.into(),
        online,
    }
}

fn group(id: u64, name: &str, desc: &str, visibility: Visibility, role: Option<Role>) -> Group {
    Group {
        id,
        name: name.into(),
        desc: desc.into(),
        visibility,
        role,
    }
}

fn member(id: u64, name: &str, online: bool, role: Role) -> Member {
    Member {
        id,
        name: name.into(),
        online,
        role,
    }
}

fn string_field(json: &str, key: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {json}"))
        .to_owned()
}

/// The reply line for `body` is exactly `json`, and a client decodes it
/// back to `body`.
fn pin_reply<T>(re: Option<u64>, body: &T, json: &str)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let got = String::from_utf8(reply::ok_line(re, body)).unwrap();
    assert_eq!(got, format!("{json}\n"));
    let ServerFrame::Reply(r) = ServerFrame::parse(json).unwrap() else {
        panic!("not a reply: {json}")
    };
    assert_eq!(r.re, re, "{json}");
    assert!(r.is_ok(), "{json}");
    assert_eq!(&r.body::<T>().unwrap(), body, "{json}");
}

/// The event's line is exactly `json`, and a client decodes it back.
fn pin_event(ev: &Event, json: &str) {
    assert_eq!(
        String::from_utf8(ev.to_line()).unwrap(),
        format!("{json}\n")
    );
    assert_eq!(
        ServerFrame::parse(json).unwrap(),
        ServerFrame::Event(ev.clone()),
        "{json}"
    );
}

/// The wire name of an event; the match makes a new variant a compile
/// error here, so it cannot go unpinned.
fn event_name(ev: &Event) -> &'static str {
    match ev {
        Event::Msg { .. } => "msg",
        Event::Presence { .. } => "presence",
        Event::FriendRequest { .. } => "friend_request",
        Event::FriendRequestCancelled { .. } => "friend_request_cancelled",
        Event::FriendAdded { .. } => "friend_added",
        Event::FriendRemoved { .. } => "friend_removed",
        Event::GroupInvite { .. } => "group_invite",
        Event::GroupUpdated { .. } => "group_updated",
        Event::GroupDeleted { .. } => "group_deleted",
        Event::MemberJoined { .. } => "member_joined",
        Event::MemberLeft { .. } => "member_left",
        Event::RemovedFromGroup { .. } => "removed_from_group",
        Event::MemberRole { .. } => "member_role",
        Event::SessionEnded { .. } => "session_ended",
    }
}

/// The contract's name of each code, written out independently of
/// `ErrorCode::as_str`; the match makes a new variant a compile error here.
fn contract_code(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::BadJson => "bad_json",
        ErrorCode::FrameTooLarge => "frame_too_large",
        ErrorCode::UnknownOp => "unknown_op",
        ErrorCode::BadRequest => "bad_request",
        ErrorCode::NotLoggedIn => "not_logged_in",
        ErrorCode::RateLimited => "rate_limited",
        ErrorCode::Unavailable => "unavailable",
        ErrorCode::Internal => "internal",
        ErrorCode::BadCredentials => "bad_credentials",
        ErrorCode::AlreadyLoggedIn => "already_logged_in",
        ErrorCode::NoSuchUser => "no_such_user",
        ErrorCode::NoSuchGroup => "no_such_group",
        ErrorCode::AlreadyFriends => "already_friends",
        ErrorCode::NotFriend => "not_friend",
        ErrorCode::AlreadyMember => "already_member",
        ErrorCode::NotMember => "not_member",
        ErrorCode::Forbidden => "forbidden",
        ErrorCode::NoSuchRequest => "no_such_request",
    }
}

// ---------------------------------------------------------------------------
// Requests

fn pinned_requests() -> Vec<(RequestFrame, &'static str)> {
    vec![
        // Before login.
        (rq(Some(1), Request::Ping), r#"{"id":1,"op":"ping"}"#),
        (
            rq(
                None,
                Request::Register {
                    name: "kirito".into(),
                    password: "secret1".into(),
                },
            ),
            r#"{"op":"register","name":"kirito","password":"secret1"}"#,
        ),
        (
            rq(
                Some(2),
                Request::Login {
                    user: 2019,
                    credential: Credential::Password("secret1".into()),
                    heartbeat: None,
                },
            ),
            r#"{"id":2,"op":"login","user":2019,"password":"secret1"}"#,
        ),
        (
            rq(
                Some(3),
                Request::Login {
                    user: 2019,
                    credential: Credential::Token("tok".into()),
                    heartbeat: None,
                },
            ),
            r#"{"id":3,"op":"login","user":2019,"token":"tok"}"#,
        ),
        // The heartbeat extension, with either credential.
        (
            rq(
                Some(4),
                Request::Login {
                    user: 2019,
                    credential: Credential::Password("secret1".into()),
                    heartbeat: Some(30),
                },
            ),
            r#"{"id":4,"op":"login","user":2019,"password":"secret1","heartbeat":30}"#,
        ),
        (
            rq(
                Some(5),
                Request::Login {
                    user: 2019,
                    credential: Credential::Token("tok".into()),
                    heartbeat: Some(3600),
                },
            ),
            r#"{"id":5,"op":"login","user":2019,"token":"tok","heartbeat":3600}"#,
        ),
        // Accounts.
        (
            rq(
                Some(6),
                Request::Logout {
                    revoke: true,
                    everywhere: false,
                },
            ),
            r#"{"id":6,"op":"logout","revoke":true,"everywhere":false}"#,
        ),
        (
            rq(
                Some(7),
                Request::Logout {
                    revoke: false,
                    everywhere: true,
                },
            ),
            r#"{"id":7,"op":"logout","revoke":false,"everywhere":true}"#,
        ),
        (
            rq(
                None,
                Request::Logout {
                    revoke: false,
                    everywhere: false,
                },
            ),
            r#"{"op":"logout","revoke":false,"everywhere":false}"#,
        ),
        (rq(Some(8), Request::Whoami), r#"{"id":8,"op":"whoami"}"#),
        (rq(Some(9), Request::Sync), r#"{"id":9,"op":"sync"}"#),
        (
            rq(
                Some(10),
                Request::ChangePassword {
                    old: "secret1".into(),
                    new: "secret2".into(),
                },
            ),
            r#"{"id":10,"op":"change_password","old":"secret1","new":"secret2"}"#,
        ),
        (
            rq(
                Some(11),
                Request::DeleteAccount {
                    password: "secret1".into(),
                },
            ),
            r#"{"id":11,"op":"delete_account","password":"secret1"}"#,
        ),
        // Friends.
        (
            rq(Some(12), Request::AddFriend { user: 2001 }),
            r#"{"id":12,"op":"add_friend","user":2001}"#,
        ),
        (
            rq(Some(13), Request::AcceptFriend { user: 2001 }),
            r#"{"id":13,"op":"accept_friend","user":2001}"#,
        ),
        (
            rq(Some(14), Request::DeclineFriend { user: 2001 }),
            r#"{"id":14,"op":"decline_friend","user":2001}"#,
        ),
        (
            rq(Some(15), Request::CancelFriend { user: 2001 }),
            r#"{"id":15,"op":"cancel_friend","user":2001}"#,
        ),
        (
            rq(Some(16), Request::Block { user: 2001 }),
            r#"{"id":16,"op":"block","user":2001}"#,
        ),
        (
            rq(Some(17), Request::Unblock { user: 2001 }),
            r#"{"id":17,"op":"unblock","user":2001}"#,
        ),
        (
            rq(Some(18), Request::RemoveFriend { user: 2001 }),
            r#"{"id":18,"op":"remove_friend","user":2001}"#,
        ),
        // One-to-one messages.
        (
            rq(
                Some(19),
                Request::Chat {
                    to: 2001,
                    text: "hello".into(),
                    cid: None,
                },
            ),
            r#"{"id":19,"op":"chat","to":2001,"text":"hello"}"#,
        ),
        (
            rq(
                Some(20),
                Request::Chat {
                    to: 2001,
                    text: "a:b \"q\"\n".into(),
                    cid: Some("c1".into()),
                },
            ),
            r#"{"id":20,"op":"chat","to":2001,"text":"a:b \"q\"\n","cid":"c1"}"#,
        ),
        // Groups.
        (
            rq(
                Some(21),
                Request::CreateGroup {
                    name: "blue".into(),
                    desc: "blue test".into(),
                    visibility: Visibility::Public,
                },
            ),
            r#"{"id":21,"op":"create_group","name":"blue","desc":"blue test","visibility":"public"}"#,
        ),
        (
            rq(
                Some(22),
                Request::CreateGroup {
                    name: "red".into(),
                    desc: String::new(),
                    visibility: Visibility::Private,
                },
            ),
            r#"{"id":22,"op":"create_group","name":"red","desc":"","visibility":"private"}"#,
        ),
        (
            rq(
                Some(23),
                Request::UpdateGroup {
                    group: 3,
                    name: Some("green".into()),
                    desc: None,
                    visibility: None,
                },
            ),
            r#"{"id":23,"op":"update_group","group":3,"name":"green"}"#,
        ),
        (
            rq(
                Some(24),
                Request::UpdateGroup {
                    group: 3,
                    name: None,
                    desc: Some("now green".into()),
                    visibility: None,
                },
            ),
            r#"{"id":24,"op":"update_group","group":3,"desc":"now green"}"#,
        ),
        (
            rq(
                Some(25),
                Request::UpdateGroup {
                    group: 3,
                    name: None,
                    desc: Some(String::new()),
                    visibility: None,
                },
            ),
            r#"{"id":25,"op":"update_group","group":3,"desc":""}"#,
        ),
        (
            rq(
                Some(26),
                Request::UpdateGroup {
                    group: 3,
                    name: None,
                    desc: None,
                    visibility: Some(Visibility::Private),
                },
            ),
            r#"{"id":26,"op":"update_group","group":3,"visibility":"private"}"#,
        ),
        (
            rq(
                Some(27),
                Request::UpdateGroup {
                    group: 3,
                    name: Some("green".into()),
                    desc: Some("now green".into()),
                    visibility: Some(Visibility::Public),
                },
            ),
            r#"{"id":27,"op":"update_group","group":3,"name":"green","desc":"now green","visibility":"public"}"#,
        ),
        (
            rq(Some(28), Request::JoinGroup { group: 3 }),
            r#"{"id":28,"op":"join_group","group":3}"#,
        ),
        (
            rq(
                Some(29),
                Request::Invite {
                    group: 3,
                    user: 2001,
                },
            ),
            r#"{"id":29,"op":"invite","group":3,"user":2001}"#,
        ),
        (
            rq(Some(30), Request::DeclineInvite { group: 3 }),
            r#"{"id":30,"op":"decline_invite","group":3}"#,
        ),
        (
            rq(
                Some(31),
                Request::Kick {
                    group: 3,
                    user: 2001,
                },
            ),
            r#"{"id":31,"op":"kick","group":3,"user":2001}"#,
        ),
        (
            rq(
                Some(32),
                Request::SetRole {
                    group: 3,
                    user: 2001,
                    role: Role::Admin,
                },
            ),
            r#"{"id":32,"op":"set_role","group":3,"user":2001,"role":"admin"}"#,
        ),
        (
            rq(
                Some(33),
                Request::SetRole {
                    group: 3,
                    user: 2001,
                    role: Role::Member,
                },
            ),
            r#"{"id":33,"op":"set_role","group":3,"user":2001,"role":"member"}"#,
        ),
        (
            rq(
                Some(34),
                Request::TransferGroup {
                    group: 3,
                    user: 2001,
                },
            ),
            r#"{"id":34,"op":"transfer_group","group":3,"user":2001}"#,
        ),
        (
            rq(Some(35), Request::QuitGroup { group: 3 }),
            r#"{"id":35,"op":"quit_group","group":3}"#,
        ),
        (
            rq(Some(36), Request::DeleteGroup { group: 3 }),
            r#"{"id":36,"op":"delete_group","group":3}"#,
        ),
        (
            rq(Some(37), Request::GroupMembers { group: 3 }),
            r#"{"id":37,"op":"group_members","group":3}"#,
        ),
        (
            rq(
                Some(38),
                Request::GroupChat {
                    group: 3,
                    text: "hi all".into(),
                    cid: None,
                },
            ),
            r#"{"id":38,"op":"group_chat","group":3,"text":"hi all"}"#,
        ),
        (
            rq(
                Some(39),
                Request::GroupChat {
                    group: 3,
                    text: "again".into(),
                    cid: Some("g-1".into()),
                },
            ),
            r#"{"id":39,"op":"group_chat","group":3,"text":"again","cid":"g-1"}"#,
        ),
        // History and acks.
        (
            rq(
                Some(40),
                Request::History {
                    target: HistoryTarget::With(2001),
                    before: Some(90),
                    limit: 20,
                },
            ),
            r#"{"id":40,"op":"history","with":2001,"before":90,"limit":20}"#,
        ),
        (
            rq(
                Some(41),
                Request::History {
                    target: HistoryTarget::Group(3),
                    before: None,
                    limit: 50,
                },
            ),
            r#"{"id":41,"op":"history","group":3,"limit":50}"#,
        ),
        (
            rq(
                Some(u64::MAX),
                Request::Ack {
                    ids: vec![1, u64::MAX],
                },
            ),
            r#"{"id":18446744073709551615,"op":"ack","ids":[1,18446744073709551615]}"#,
        ),
    ]
}

#[test]
fn request_json_is_pinned() {
    for (frame, json) in pinned_requests() {
        assert_eq!(line(&frame), format!("{json}\n"));
        assert_eq!(
            decode(json).unwrap(),
            (frame.id, frame.request.clone()),
            "{json}"
        );
    }
}

#[test]
fn every_op_of_the_contract_is_pinned() {
    let contract: BTreeSet<&str> = CONTRACT_OPS.into_iter().collect();
    assert_eq!(contract.len(), CONTRACT_OPS.len());
    let ours: Vec<&str> = Op::ALL.iter().map(|op| op.as_str()).collect();
    assert_eq!(ours, CONTRACT_OPS, "Op::ALL against the contract's table");
    for name in CONTRACT_OPS {
        let op = Op::from_name(name).unwrap();
        assert_eq!(op.as_str(), name);
        assert_eq!(
            op.allowed_before_login(),
            matches!(name, "ping" | "register" | "login"),
            "{name} before login"
        );
    }
    let pinned: BTreeSet<String> = pinned_requests()
        .iter()
        .map(|(_, json)| string_field(json, "op"))
        .collect();
    let pinned: BTreeSet<&str> = pinned.iter().map(String::as_str).collect();
    assert_eq!(pinned, contract, "ops without a pinned request");
}

/// Frames a client may send that decode to the same request as a pinned
/// one: optional fields left out, nulls, fields in another order.
#[test]
fn requests_decode_with_defaults() {
    let cases: Vec<(&str, Request)> = vec![
        (
            r#"{"op":"logout"}"#,
            Request::Logout {
                revoke: false,
                everywhere: false,
            },
        ),
        (
            r#"{"op":"logout","everywhere":true}"#,
            Request::Logout {
                revoke: false,
                everywhere: true,
            },
        ),
        (
            r#"{"op":"logout","revoke":null,"everywhere":null}"#,
            Request::Logout {
                revoke: false,
                everywhere: false,
            },
        ),
        (
            r#"{"op":"create_group","name":"blue"}"#,
            Request::CreateGroup {
                name: "blue".into(),
                desc: String::new(),
                visibility: Visibility::Public,
            },
        ),
        (
            r#"{"visibility":"private","name":"  blue  ","op":"create_group"}"#,
            Request::CreateGroup {
                name: "blue".into(),
                desc: String::new(),
                visibility: Visibility::Private,
            },
        ),
        (
            r#"{"op":"create_group","name":"blue","visibility":null}"#,
            Request::CreateGroup {
                name: "blue".into(),
                desc: String::new(),
                visibility: Visibility::Public,
            },
        ),
        (
            r#"{"op":"update_group","group":3,"name":" green ","desc":null}"#,
            Request::UpdateGroup {
                group: 3,
                name: Some("green".into()),
                desc: None,
                visibility: None,
            },
        ),
        (
            r#"{"op":"login","user":1,"password":"secret1","heartbeat":null}"#,
            Request::Login {
                user: 1,
                credential: Credential::Password("secret1".into()),
                heartbeat: None,
            },
        ),
        (
            r#"{"op":"login","user":1,"token":"t","password":null,"heartbeat":5}"#,
            Request::Login {
                user: 1,
                credential: Credential::Token("t".into()),
                heartbeat: Some(5),
            },
        ),
        (
            r#"{"op":"history","group":3}"#,
            Request::History {
                target: HistoryTarget::Group(3),
                before: None,
                limit: 50,
            },
        ),
        (
            r#"{"op":"history","with":2001,"group":null,"limit":100}"#,
            Request::History {
                target: HistoryTarget::With(2001),
                before: None,
                limit: 100,
            },
        ),
        // Fields of other ops are ignored, as are unknown ones.
        (
            r#"{"op":"accept_friend","user":2001,"group":3,"role":"creator","x":[]}"#,
            Request::AcceptFriend { user: 2001 },
        ),
        (
            r#"{"op":"decline_invite","group":3,"user":"nobody"}"#,
            Request::DeclineInvite { group: 3 },
        ),
    ];
    for (json, request) in cases {
        assert_eq!(decode(json).unwrap(), (None, request), "{json}");
    }
}

// ---------------------------------------------------------------------------
// Replies

fn lists_full() -> Lists {
    Lists {
        friends: vec![
            user(2001, "asuna", Some(true)),
            user(2002, "klein", Some(false)),
        ],
        groups: vec![
            group(
                1,
                "happy game",
                "happy play",
                Visibility::Public,
                Some(Role::Creator),
            ),
            group(2, "guild", "", Visibility::Private, Some(Role::Admin)),
            group(4, "raid", "tue", Visibility::Public, Some(Role::Member)),
        ],
        requests_in: vec![user(2003, "silica", None)],
        requests_out: vec![user(2004, "agil", None)],
        blocked: vec![user(2005, "kuradeel", None)],
        invites: vec![Invite {
            group: group(5, "secret", "shh", Visibility::Private, None),
            by: user(2001, "asuna", None),
        }],
    }
}

const LISTS_FULL: &str = concat!(
    r#""friends":[{"id":2001,"name":"asuna","online":true},{"id":2002,"name":"klein","online":false}],"#,
    r#""groups":[{"id":1,"name":"happy game","desc":"happy play","visibility":"public","role":"creator"},"#,
    r#"{"id":2,"name":"guild","desc":"","visibility":"private","role":"admin"},"#,
    r#"{"id":4,"name":"raid","desc":"tue","visibility":"public","role":"member"}],"#,
    r#""requests_in":[{"id":2003,"name":"silica"}],"#,
    r#""requests_out":[{"id":2004,"name":"agil"}],"#,
    r#""blocked":[{"id":2005,"name":"kuradeel"}],"#,
    r#""invites":[{"group":{"id":5,"name":"secret","desc":"shh","visibility":"private"},"by":{"id":2001,"name":"asuna"}}]"#,
);

const LISTS_EMPTY: &str =
    r#""friends":[],"groups":[],"requests_in":[],"requests_out":[],"blocked":[],"invites":[]"#;

#[test]
fn reply_json_is_pinned() {
    // ping, logout, decline_friend, cancel_friend, block, unblock,
    // delete_account, remove_friend, invite, decline_invite, kick,
    // set_role, transfer_group, quit_group, delete_group, ack.
    pin_reply(Some(1), &Empty {}, r#"{"re":1,"ok":true}"#);
    pin_reply(None, &Empty {}, r#"{"re":null,"ok":true}"#);

    pin_reply(
        Some(2),
        &Registered {
            user: user(2019, "kirito", None),
        },
        r#"{"re":2,"ok":true,"user":{"id":2019,"name":"kirito"}}"#,
    );

    let login = LoggedIn {
        user: user(2019, "kirito", None),
        token: "t0k3n".into(),
        lists: lists_full(),
        unread: 2,
    };
    pin_reply(
        Some(3),
        &login,
        &format!(
            r#"{{"re":3,"ok":true,"user":{{"id":2019,"name":"kirito"}},"token":"t0k3n",{LISTS_FULL},"unread":2}}"#
        ),
    );
    let fresh = LoggedIn {
        user: user(2019, "kirito", None),
        token: "t".into(),
        lists: Lists::default(),
        unread: 0,
    };
    pin_reply(
        Some(4),
        &fresh,
        &format!(
            r#"{{"re":4,"ok":true,"user":{{"id":2019,"name":"kirito"}},"token":"t",{LISTS_EMPTY},"unread":0}}"#
        ),
    );

    pin_reply(
        Some(5),
        &Whoami {
            user: user(2019, "kirito", Some(true)),
        },
        r#"{"re":5,"ok":true,"user":{"id":2019,"name":"kirito","online":true}}"#,
    );

    pin_reply(
        Some(6),
        &Synced {
            lists: lists_full(),
        },
        &format!(r#"{{"re":6,"ok":true,{LISTS_FULL}}}"#),
    );
    pin_reply(
        Some(7),
        &Synced {
            lists: Lists::default(),
        },
        &format!(r#"{{"re":7,"ok":true,{LISTS_EMPTY}}}"#),
    );

    // add_friend: a request sent, or one accepted.
    pin_reply(
        Some(8),
        &FriendRequested {
            status: FriendStatus::Requested,
            friend: None,
        },
        r#"{"re":8,"ok":true,"status":"requested"}"#,
    );
    pin_reply(
        Some(9),
        &FriendRequested {
            status: FriendStatus::Friends,
            friend: Some(user(2001, "asuna", Some(true))),
        },
        r#"{"re":9,"ok":true,"status":"friends","friend":{"id":2001,"name":"asuna","online":true}}"#,
    );

    pin_reply(
        Some(10),
        &FriendAdded {
            friend: user(2001, "asuna", Some(false)),
        },
        r#"{"re":10,"ok":true,"friend":{"id":2001,"name":"asuna","online":false}}"#,
    );

    pin_reply(
        Some(11),
        &NewToken {
            token: "n3w".into(),
        },
        r#"{"re":11,"ok":true,"token":"n3w"}"#,
    );

    // chat and group_chat.
    pin_reply(
        Some(17),
        &Sent {
            msg: MsgRef {
                id: 90211,
                ts: 1764190800123,
            },
        },
        r#"{"re":17,"ok":true,"msg":{"id":90211,"ts":1764190800123}}"#,
    );

    // create_group, join_group, update_group.
    pin_reply(
        Some(12),
        &GroupReply {
            group: group(3, "blue", "", Visibility::Private, Some(Role::Creator)),
        },
        r#"{"re":12,"ok":true,"group":{"id":3,"name":"blue","desc":"","visibility":"private","role":"creator"}}"#,
    );
    pin_reply(
        Some(13),
        &GroupReply {
            group: group(
                3,
                "blue",
                "blue test",
                Visibility::Public,
                Some(Role::Member),
            ),
        },
        r#"{"re":13,"ok":true,"group":{"id":3,"name":"blue","desc":"blue test","visibility":"public","role":"member"}}"#,
    );
    pin_reply(
        Some(14),
        &GroupReply {
            group: group(
                3,
                "green",
                "now green",
                Visibility::Public,
                Some(Role::Admin),
            ),
        },
        r#"{"re":14,"ok":true,"group":{"id":3,"name":"green","desc":"now green","visibility":"public","role":"admin"}}"#,
    );

    pin_reply(
        Some(15),
        &Members {
            members: vec![
                member(2019, "kirito", true, Role::Creator),
                member(2001, "asuna", false, Role::Admin),
                member(2002, "klein", true, Role::Member),
            ],
        },
        concat!(
            r#"{"re":15,"ok":true,"members":[{"id":2019,"name":"kirito","online":true,"role":"creator"},"#,
            r#"{"id":2001,"name":"asuna","online":false,"role":"admin"},"#,
            r#"{"id":2002,"name":"klein","online":true,"role":"member"}]}"#
        ),
    );

    pin_reply(
        Some(16),
        &History {
            messages: vec![
                Msg {
                    id: 12,
                    from: 2001,
                    to: Some(2019),
                    group: None,
                    text: "second".into(),
                    ts: 1764190800200,
                    cid: Some("c2".into()),
                },
                Msg {
                    id: 11,
                    from: 2019,
                    to: Some(2001),
                    group: None,
                    text: "first".into(),
                    ts: 1764190800100,
                    cid: None,
                },
            ],
        },
        concat!(
            r#"{"re":16,"ok":true,"messages":[{"id":12,"from":2001,"to":2019,"text":"second","ts":1764190800200,"cid":"c2"},"#,
            r#"{"id":11,"from":2019,"to":2001,"text":"first","ts":1764190800100}]}"#
        ),
    );
    pin_reply(
        Some(18),
        &History {
            messages: vec![Msg {
                id: 13,
                from: 2002,
                to: None,
                group: Some(3),
                text: "hi all".into(),
                ts: 1764190800300,
                cid: None,
            }],
        },
        r#"{"re":18,"ok":true,"messages":[{"id":13,"from":2002,"group":3,"text":"hi all","ts":1764190800300}]}"#,
    );
    pin_reply(
        Some(19),
        &History { messages: vec![] },
        r#"{"re":19,"ok":true,"messages":[]}"#,
    );
}

/// Groups on their own: `role` present for members, absent where a
/// non-member sees the group (an invite) or all members at once
/// (`group_updated`); `visibility` always present.
#[test]
fn group_objects_are_pinned() {
    let cases = [
        (
            group(3, "blue", "d", Visibility::Public, None),
            r#"{"id":3,"name":"blue","desc":"d","visibility":"public"}"#,
        ),
        (
            group(3, "blue", "d", Visibility::Private, None),
            r#"{"id":3,"name":"blue","desc":"d","visibility":"private"}"#,
        ),
        (
            group(3, "blue", "d", Visibility::Public, Some(Role::Creator)),
            r#"{"id":3,"name":"blue","desc":"d","visibility":"public","role":"creator"}"#,
        ),
        (
            group(3, "blue", "d", Visibility::Private, Some(Role::Admin)),
            r#"{"id":3,"name":"blue","desc":"d","visibility":"private","role":"admin"}"#,
        ),
        (
            group(3, "blue", "d", Visibility::Private, Some(Role::Member)),
            r#"{"id":3,"name":"blue","desc":"d","visibility":"private","role":"member"}"#,
        ),
    ];
    for (g, json) in cases {
        assert_eq!(serde_json::to_string(&g).unwrap(), json);
        assert_eq!(serde_json::from_str::<Group>(json).unwrap(), g);
    }
    for (role, name) in [
        (Role::Creator, "creator"),
        (Role::Admin, "admin"),
        (Role::Member, "member"),
    ] {
        assert_eq!(role.as_str(), name);
        assert_eq!(serde_json::to_string(&role).unwrap(), format!("\"{name}\""));
    }
    for (v, name) in [
        (Visibility::Public, "public"),
        (Visibility::Private, "private"),
    ] {
        assert_eq!(v.as_str(), name);
        assert_eq!(serde_json::to_string(&v).unwrap(), format!("\"{name}\""));
    }
    assert_eq!(Visibility::default(), Visibility::Public);
    for bad in [r#""owner""#, r#""Admin""#, r#""""#] {
        assert!(serde_json::from_str::<Role>(bad).is_err(), "{bad}");
    }
    assert!(serde_json::from_str::<Visibility>(r#""hidden""#).is_err());
}

/// A client of these types still reads a version 1 server: lists it did
/// not send are empty and groups without `visibility` are public.
#[test]
fn version_1_replies_still_decode() {
    let v1 = concat!(
        r#"{"re":2,"ok":true,"user":{"id":2019,"name":"kirito"},"token":"t","#,
        r#""friends":[{"id":2001,"name":"kir","online":false}],"#,
        r#""groups":[{"id":1,"name":"happy game","desc":"happy play","role":"creator"}],"unread":2}"#
    );
    let ServerFrame::Reply(r) = ServerFrame::parse(v1).unwrap() else {
        panic!("not a reply")
    };
    let login: LoggedIn = r.body().unwrap();
    assert_eq!(
        login.lists,
        Lists {
            friends: vec![user(2001, "kir", Some(false))],
            groups: vec![group(
                1,
                "happy game",
                "happy play",
                Visibility::Public,
                Some(Role::Creator)
            )],
            ..Lists::default()
        }
    );
}

// ---------------------------------------------------------------------------
// Errors

#[test]
fn error_json_is_pinned() {
    let cases: Vec<(Vec<u8>, &str, ErrorBody, Option<u64>)> = vec![
        (
            reply::err_line(
                Some(18),
                ErrorCode::NotFriend,
                "user 2002 is not your friend",
            ),
            r#"{"re":18,"ok":false,"code":"not_friend","error":"user 2002 is not your friend"}"#,
            ErrorBody {
                code: ErrorCode::NotFriend,
                error: "user 2002 is not your friend".into(),
                retry_after: None,
            },
            Some(18),
        ),
        (
            reply::err_line_retry(
                Some(2),
                ErrorCode::RateLimited,
                "too many failed logins",
                Some(30),
            ),
            r#"{"re":2,"ok":false,"code":"rate_limited","error":"too many failed logins","retry_after":30}"#,
            ErrorBody {
                code: ErrorCode::RateLimited,
                error: "too many failed logins".into(),
                retry_after: Some(30),
            },
            Some(2),
        ),
        (
            reply::err_line(None, ErrorCode::BadJson, "a frame must be a JSON object"),
            r#"{"re":null,"ok":false,"code":"bad_json","error":"a frame must be a JSON object"}"#,
            ErrorBody {
                code: ErrorCode::BadJson,
                error: "a frame must be a JSON object".into(),
                retry_after: None,
            },
            None,
        ),
        (
            reply::err_line_retry(Some(13), ErrorCode::NoSuchRequest, "no request", None),
            r#"{"re":13,"ok":false,"code":"no_such_request","error":"no request"}"#,
            ErrorBody {
                code: ErrorCode::NoSuchRequest,
                error: "no request".into(),
                retry_after: None,
            },
            Some(13),
        ),
    ];
    for (bytes, json, body, re) in cases {
        assert_eq!(String::from_utf8(bytes).unwrap(), format!("{json}\n"));
        let ServerFrame::Reply(r) = ServerFrame::parse(json).unwrap() else {
            panic!("not a reply: {json}")
        };
        assert_eq!(r.re, re);
        assert!(!r.is_ok());
        assert_eq!(r.result, Err(body.clone()), "{json}");
        assert_eq!(r.body::<Empty>(), Err(ReplyError::Failed(body)), "{json}");
    }
}

#[test]
fn error_codes_match_the_contract() {
    let contract: BTreeSet<&str> = CONTRACT_CODES.into_iter().collect();
    assert_eq!(contract.len(), CONTRACT_CODES.len());
    let ours: Vec<&str> = ErrorCode::ALL.iter().map(|c| contract_code(*c)).collect();
    assert_eq!(ours, CONTRACT_CODES, "ErrorCode::ALL against the contract");
    for code in ErrorCode::ALL {
        let name = contract_code(code);
        assert_eq!(code.as_str(), name);
        assert_eq!(code.to_string(), name);
        assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{name}\""));
        assert_eq!(
            serde_json::from_str::<ErrorCode>(&format!("\"{name}\"")).unwrap(),
            code
        );
        let json = format!(r#"{{"re":1,"ok":false,"code":"{name}","error":"e"}}"#);
        assert_eq!(
            String::from_utf8(reply::err_line(Some(1), code, "e")).unwrap(),
            format!("{json}\n")
        );
        let ServerFrame::Reply(r) = ServerFrame::parse(&json).unwrap() else {
            panic!("not a reply")
        };
        assert_eq!(
            r.result,
            Err(ErrorBody {
                code,
                error: "e".into(),
                retry_after: None
            })
        );
    }
    assert!(serde_json::from_str::<ErrorCode>(r#""NoSuchRequest""#).is_err());
}

// ---------------------------------------------------------------------------
// Events

fn pinned_events() -> Vec<(Event, &'static str)> {
    let kirito = || user(2019, "kirito", None);
    vec![
        (
            Event::Msg {
                msg: Msg {
                    id: 90211,
                    from: 2019,
                    to: Some(2001),
                    group: None,
                    text: "hello".into(),
                    ts: 1764190800123,
                    cid: None,
                },
            },
            r#"{"ev":"msg","msg":{"id":90211,"from":2019,"to":2001,"text":"hello","ts":1764190800123}}"#,
        ),
        (
            Event::Msg {
                msg: Msg {
                    id: 5,
                    from: 1,
                    to: None,
                    group: Some(3),
                    text: "g".into(),
                    ts: 9,
                    cid: Some("c".into()),
                },
            },
            r#"{"ev":"msg","msg":{"id":5,"from":1,"group":3,"text":"g","ts":9,"cid":"c"}}"#,
        ),
        (
            Event::Presence {
                user: 2001,
                online: true,
            },
            r#"{"ev":"presence","user":2001,"online":true}"#,
        ),
        (
            Event::Presence {
                user: 2001,
                online: false,
            },
            r#"{"ev":"presence","user":2001,"online":false}"#,
        ),
        (
            Event::FriendRequest { user: kirito() },
            r#"{"ev":"friend_request","user":{"id":2019,"name":"kirito"}}"#,
        ),
        (
            Event::FriendRequestCancelled { user: 2019 },
            r#"{"ev":"friend_request_cancelled","user":2019}"#,
        ),
        (
            Event::FriendAdded {
                user: user(1, "a", Some(true)),
            },
            r#"{"ev":"friend_added","user":{"id":1,"name":"a","online":true}}"#,
        ),
        (
            Event::FriendRemoved { user: 1 },
            r#"{"ev":"friend_removed","user":1}"#,
        ),
        (
            Event::GroupInvite {
                group: group(3, "secret", "shh", Visibility::Private, None),
                by: kirito(),
            },
            r#"{"ev":"group_invite","group":{"id":3,"name":"secret","desc":"shh","visibility":"private"},"by":{"id":2019,"name":"kirito"}}"#,
        ),
        (
            Event::GroupInvite {
                group: group(4, "open", "", Visibility::Public, None),
                by: user(2019, "kirito", Some(true)),
            },
            r#"{"ev":"group_invite","group":{"id":4,"name":"open","desc":"","visibility":"public"},"by":{"id":2019,"name":"kirito","online":true}}"#,
        ),
        (
            Event::GroupUpdated {
                group: group(3, "green", "now green", Visibility::Public, None),
            },
            r#"{"ev":"group_updated","group":{"id":3,"name":"green","desc":"now green","visibility":"public"}}"#,
        ),
        (
            Event::GroupDeleted { group: 3 },
            r#"{"ev":"group_deleted","group":3}"#,
        ),
        (
            Event::MemberJoined {
                group: 3,
                user: user(1, "a", Some(true)),
            },
            r#"{"ev":"member_joined","group":3,"user":{"id":1,"name":"a","online":true}}"#,
        ),
        (
            Event::MemberLeft {
                group: 3,
                user: user(1, "a", Some(false)),
                by: None,
            },
            r#"{"ev":"member_left","group":3,"user":{"id":1,"name":"a","online":false}}"#,
        ),
        (
            Event::MemberLeft {
                group: 3,
                user: user(1, "a", Some(true)),
                by: Some(2019),
            },
            r#"{"ev":"member_left","group":3,"user":{"id":1,"name":"a","online":true},"by":2019}"#,
        ),
        (
            Event::RemovedFromGroup { group: 3, by: 2019 },
            r#"{"ev":"removed_from_group","group":3,"by":2019}"#,
        ),
        (
            Event::MemberRole {
                group: 3,
                user: 2001,
                role: Role::Admin,
            },
            r#"{"ev":"member_role","group":3,"user":2001,"role":"admin"}"#,
        ),
        (
            Event::MemberRole {
                group: 3,
                user: 2001,
                role: Role::Member,
            },
            r#"{"ev":"member_role","group":3,"user":2001,"role":"member"}"#,
        ),
        (
            // After transfer_group: the new creator.
            Event::MemberRole {
                group: 3,
                user: 2001,
                role: Role::Creator,
            },
            r#"{"ev":"member_role","group":3,"user":2001,"role":"creator"}"#,
        ),
        (
            Event::SessionEnded {
                reason: EndReason::PasswordChanged,
            },
            r#"{"ev":"session_ended","reason":"password_changed"}"#,
        ),
        (
            Event::SessionEnded {
                reason: EndReason::AccountDeleted,
            },
            r#"{"ev":"session_ended","reason":"account_deleted"}"#,
        ),
        (
            Event::SessionEnded {
                reason: EndReason::LoggedOut,
            },
            r#"{"ev":"session_ended","reason":"logged_out"}"#,
        ),
    ]
}

#[test]
fn event_json_is_pinned() {
    for (ev, json) in pinned_events() {
        pin_event(&ev, json);
        assert_eq!(string_field(json, "ev"), event_name(&ev));
    }
}

#[test]
fn every_event_of_the_contract_is_pinned() {
    let contract: BTreeSet<&str> = CONTRACT_EVENTS.into_iter().collect();
    assert_eq!(contract.len(), CONTRACT_EVENTS.len());
    let pinned: BTreeSet<&str> = pinned_events().iter().map(|(e, _)| event_name(e)).collect();
    assert_eq!(pinned, contract, "events without a pinned frame");
    let reasons: BTreeSet<String> = pinned_events()
        .iter()
        .filter(|(e, _)| matches!(e, Event::SessionEnded { .. }))
        .map(|(_, json)| string_field(json, "reason"))
        .collect();
    let reasons: Vec<&str> = reasons.iter().map(String::as_str).collect();
    assert_eq!(
        reasons,
        ["account_deleted", "logged_out", "password_changed"]
    );
}

#[test]
fn events_never_carry_re() {
    for (ev, _) in pinned_events() {
        let v: serde_json::Value = serde_json::from_slice(&ev.to_line()).unwrap();
        assert!(v.get("re").is_none(), "{v}");
        assert!(v.get("ok").is_none(), "{v}");
    }
}

// ---------------------------------------------------------------------------
// Properties

fn text_strategy() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 :\"\\\\é😀\n\t{}]{0,40}".prop_map(|s| format!("x{s}"))
}

fn name_strategy() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9é_ -]{0,20}".prop_map(|s| format!("n{}", s.trim()))
}

fn password_strategy() -> impl Strategy<Value = String> {
    "[ -~é😀]{6,30}".prop_filter("6 to 128 bytes", |p| (6..=128).contains(&p.len()))
}

fn desc_strategy() -> impl Strategy<Value = String> {
    "[a-z é😀\n\"]{0,256}"
}

fn visibility_strategy() -> impl Strategy<Value = Visibility> {
    prop_oneof![Just(Visibility::Public), Just(Visibility::Private)]
}

fn role_strategy() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Creator), Just(Role::Admin), Just(Role::Member)]
}

fn credential_strategy() -> impl Strategy<Value = Credential> {
    prop_oneof![
        password_strategy().prop_map(Credential::Password),
        "[A-Za-z0-9_-]{1,64}".prop_map(Credential::Token),
    ]
}

fn account_request_strategy() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::Ping),
        Just(Request::Whoami),
        Just(Request::Sync),
        (name_strategy(), password_strategy())
            .prop_map(|(name, password)| Request::Register { name, password }),
        (
            any::<u64>(),
            credential_strategy(),
            proptest::option::of(5u32..=3600)
        )
            .prop_map(|(user, credential, heartbeat)| Request::Login {
                user,
                credential,
                heartbeat
            }),
        (any::<bool>(), any::<bool>())
            .prop_map(|(revoke, everywhere)| Request::Logout { revoke, everywhere }),
        (password_strategy(), password_strategy())
            .prop_map(|(old, new)| Request::ChangePassword { old, new }),
        password_strategy().prop_map(|password| Request::DeleteAccount { password }),
    ]
}

fn friend_request_strategy() -> impl Strategy<Value = Request> {
    (0..7u8, any::<u64>()).prop_map(|(which, user)| match which {
        0 => Request::AddFriend { user },
        1 => Request::AcceptFriend { user },
        2 => Request::DeclineFriend { user },
        3 => Request::CancelFriend { user },
        4 => Request::Block { user },
        5 => Request::Unblock { user },
        _ => Request::RemoveFriend { user },
    })
}

fn group_request_strategy() -> impl Strategy<Value = Request> {
    prop_oneof![
        (name_strategy(), desc_strategy(), visibility_strategy()).prop_map(
            |(name, desc, visibility)| Request::CreateGroup {
                name,
                desc,
                visibility
            }
        ),
        (
            any::<u64>(),
            proptest::option::of(name_strategy()),
            proptest::option::of(desc_strategy()),
            proptest::option::of(visibility_strategy()),
        )
            .prop_filter("at least one field to update", |(_, n, d, v)| {
                n.is_some() || d.is_some() || v.is_some()
            })
            .prop_map(|(group, name, desc, visibility)| Request::UpdateGroup {
                group,
                name,
                desc,
                visibility
            }),
        (0..5u8, any::<u64>()).prop_map(|(which, group)| match which {
            0 => Request::JoinGroup { group },
            1 => Request::DeclineInvite { group },
            2 => Request::QuitGroup { group },
            3 => Request::DeleteGroup { group },
            _ => Request::GroupMembers { group },
        }),
        (0..3u8, any::<u64>(), any::<u64>()).prop_map(|(which, group, user)| match which {
            0 => Request::Invite { group, user },
            1 => Request::Kick { group, user },
            _ => Request::TransferGroup { group, user },
        }),
        (
            any::<u64>(),
            any::<u64>(),
            prop_oneof![Just(Role::Admin), Just(Role::Member)]
        )
            .prop_map(|(group, user, role)| Request::SetRole { group, user, role }),
    ]
}

fn message_request_strategy() -> impl Strategy<Value = Request> {
    let cid = proptest::option::of("[a-z0-9-é]{1,64}");
    prop_oneof![
        (any::<u64>(), text_strategy(), cid.clone()).prop_map(|(to, text, cid)| Request::Chat {
            to,
            text,
            cid
        }),
        (any::<u64>(), text_strategy(), cid).prop_map(|(group, text, cid)| Request::GroupChat {
            group,
            text,
            cid
        }),
        (
            any::<bool>(),
            any::<u64>(),
            proptest::option::of(any::<u64>()),
            1u32..=100
        )
            .prop_map(|(w, t, before, limit)| {
                Request::History {
                    target: if w {
                        HistoryTarget::With(t)
                    } else {
                        HistoryTarget::Group(t)
                    },
                    before,
                    limit,
                }
            }),
        proptest::collection::vec(any::<u64>(), 1..50).prop_map(|ids| Request::Ack { ids }),
    ]
}

fn request_strategy() -> impl Strategy<Value = Request> {
    prop_oneof![
        account_request_strategy(),
        friend_request_strategy(),
        group_request_strategy(),
        message_request_strategy(),
    ]
}

fn msg_strategy() -> impl Strategy<Value = Msg> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<bool>(),
        any::<u64>(),
        text_strategy(),
        any::<u64>(),
        proptest::option::of("[a-z]{1,8}"),
    )
        .prop_map(|(id, from, one, target, text, ts, cid)| Msg {
            id,
            from,
            to: one.then_some(target),
            group: (!one).then_some(target),
            text,
            ts,
            cid,
        })
}

fn user_strategy() -> impl Strategy<Value = User> {
    (
        any::<u64>(),
        name_strategy(),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(|(id, name, online)| User { id, name, online })
}

fn group_strategy(role: impl Strategy<Value = Option<Role>>) -> impl Strategy<Value = Group> {
    (
        any::<u64>(),
        name_strategy(),
        desc_strategy(),
        visibility_strategy(),
        role,
    )
        .prop_map(|(id, name, desc, visibility, role)| Group {
            id,
            name,
            desc,
            visibility,
            role,
        })
}

fn invite_strategy() -> impl Strategy<Value = Invite> {
    (group_strategy(Just(None)), user_strategy()).prop_map(|(group, by)| Invite { group, by })
}

fn end_reason_strategy() -> impl Strategy<Value = EndReason> {
    prop_oneof![
        Just(EndReason::PasswordChanged),
        Just(EndReason::AccountDeleted),
        Just(EndReason::LoggedOut),
    ]
}

fn event_strategy() -> impl Strategy<Value = Event> {
    prop_oneof![
        msg_strategy().prop_map(|msg| Event::Msg { msg }),
        (any::<u64>(), any::<bool>()).prop_map(|(user, online)| Event::Presence { user, online }),
        user_strategy().prop_map(|mut user| {
            user.online = None;
            Event::FriendRequest { user }
        }),
        any::<u64>().prop_map(|user| Event::FriendRequestCancelled { user }),
        user_strategy().prop_map(|user| Event::FriendAdded { user }),
        any::<u64>().prop_map(|user| Event::FriendRemoved { user }),
        invite_strategy().prop_map(|i| Event::GroupInvite {
            group: i.group,
            by: i.by
        }),
        group_strategy(Just(None)).prop_map(|group| Event::GroupUpdated { group }),
        any::<u64>().prop_map(|group| Event::GroupDeleted { group }),
        (any::<u64>(), user_strategy())
            .prop_map(|(group, user)| Event::MemberJoined { group, user }),
        (
            any::<u64>(),
            user_strategy(),
            proptest::option::of(any::<u64>())
        )
            .prop_map(|(group, user, by)| Event::MemberLeft { group, user, by }),
        (any::<u64>(), any::<u64>()).prop_map(|(group, by)| Event::RemovedFromGroup { group, by }),
        (any::<u64>(), any::<u64>(), role_strategy())
            .prop_map(|(group, user, role)| Event::MemberRole { group, user, role }),
        end_reason_strategy().prop_map(|reason| Event::SessionEnded { reason }),
    ]
}

fn lists_strategy() -> impl Strategy<Value = Lists> {
    let users = || proptest::collection::vec(user_strategy(), 0..4);
    (
        users(),
        proptest::collection::vec(group_strategy(role_strategy().prop_map(Some)), 0..4),
        users(),
        users(),
        users(),
        proptest::collection::vec(invite_strategy(), 0..3),
    )
        .prop_map(
            |(friends, groups, requests_in, requests_out, blocked, invites)| Lists {
                friends,
                groups,
                requests_in,
                requests_out,
                blocked,
                invites,
            },
        )
}

fn member_strategy() -> impl Strategy<Value = Member> {
    (
        any::<u64>(),
        name_strategy(),
        any::<bool>(),
        role_strategy(),
    )
        .prop_map(|(id, name, online, role)| Member {
            id,
            name,
            online,
            role,
        })
}

fn error_code_strategy() -> impl Strategy<Value = ErrorCode> {
    proptest::sample::select(ErrorCode::ALL.to_vec())
}

/// Encodes `body` as a reply and decodes it as a client would.
fn reply_round_trip<T>(re: Option<u64>, body: &T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let line = String::from_utf8(reply::ok_line(re, body)).unwrap();
    prop_assert_eq!(line.matches('\n').count(), 1);
    let ServerFrame::Reply(r) = ServerFrame::parse(line.trim_end()).unwrap() else {
        return Err(TestCaseError::fail("not a reply"));
    };
    prop_assert_eq!(r.re, re);
    prop_assert_eq!(&r.body::<T>().unwrap(), body);
    Ok(())
}

proptest! {
    #[test]
    fn requests_round_trip(req in request_strategy(), id in proptest::option::of(any::<u64>())) {
        let frame = RequestFrame { id, request: req };
        let bytes = frame.to_line();
        prop_assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 1);
        let mut dec = LineDecoder::new(chat_proto::DEFAULT_MAX_FRAME, 64);
        dec.buffer().extend_from_slice(&bytes);
        let line = dec.next_frame().unwrap().unwrap();
        let parsed = Frame::parse(&line).unwrap();
        prop_assert_eq!(parsed.id, frame.id);
        prop_assert_eq!(parsed.request().unwrap(), frame.request);
    }

    #[test]
    fn events_round_trip(ev in event_strategy()) {
        let bytes = ev.to_line();
        let s = std::str::from_utf8(&bytes).unwrap();
        prop_assert_eq!(s.matches('\n').count(), 1);
        prop_assert_eq!(ServerFrame::parse(s.trim_end()).unwrap(), ServerFrame::Event(ev));
    }

    #[test]
    fn replies_round_trip(msgs in proptest::collection::vec(msg_strategy(), 0..5), re in proptest::option::of(any::<u64>()),
                          id in any::<u64>(), ts in any::<u64>()) {
        reply_round_trip(re, &History { messages: msgs })?;
        reply_round_trip(re, &Sent { msg: MsgRef { id, ts } })?;
        reply_round_trip(re, &Empty {})?;
    }

    #[test]
    fn version_2_replies_round_trip(
        re in proptest::option::of(any::<u64>()),
        me in user_strategy(),
        token in "[A-Za-z0-9_-]{1,64}",
        lists in lists_strategy(),
        unread in any::<u64>(),
        friend in user_strategy(),
        accepted in any::<bool>(),
        g in group_strategy(role_strategy().prop_map(Some)),
        members in proptest::collection::vec(member_strategy(), 0..6),
    ) {
        reply_round_trip(re, &Registered { user: me.clone() })?;
        reply_round_trip(re, &Whoami { user: me.clone() })?;
        reply_round_trip(re, &LoggedIn { user: me, token: token.clone(), lists: lists.clone(), unread })?;
        reply_round_trip(re, &Synced { lists })?;
        let status = if accepted { FriendStatus::Friends } else { FriendStatus::Requested };
        reply_round_trip(re, &FriendRequested { status, friend: accepted.then(|| friend.clone()) })?;
        reply_round_trip(re, &FriendAdded { friend })?;
        reply_round_trip(re, &NewToken { token })?;
        reply_round_trip(re, &GroupReply { group: g })?;
        reply_round_trip(re, &Members { members })?;
    }

    #[test]
    fn errors_round_trip(re in proptest::option::of(any::<u64>()), code in error_code_strategy(),
                         error in "\\PC{0,40}", retry_after in proptest::option::of(any::<u64>())) {
        let line = String::from_utf8(reply::err_line_retry(re, code, &error, retry_after)).unwrap();
        prop_assert_eq!(line.matches('\n').count(), 1);
        let ServerFrame::Reply(r) = ServerFrame::parse(line.trim_end()).unwrap() else {
            return Err(TestCaseError::fail("not a reply"));
        };
        prop_assert_eq!(r.re, re);
        prop_assert_eq!(r.result, Err(ErrorBody { code, error, retry_after }));
    }

    #[test]
    fn arbitrary_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..10)) {
        let mut dec = LineDecoder::new(256, 16);
        for chunk in chunks {
            dec.buffer().extend_from_slice(&chunk);
            loop {
                match dec.next_frame() {
                    Ok(Some(line)) => {
                        if let Ok(f) = Frame::parse(&line) {
                            let _ = f.request();
                        }
                        if let Ok(s) = std::str::from_utf8(&line) {
                            let _ = ServerFrame::parse(s);
                        }
                    }
                    Ok(None) => break,
                    Err(_) => { dec.clear(); break; }
                }
            }
        }
    }

    #[test]
    fn json_shaped_garbage_never_panics(op in prop_oneof![
            "[a-z_]{0,14}".boxed(),
            proptest::sample::select(CONTRACT_OPS.to_vec()).prop_map(str::to_owned).boxed(),
        ],
        key in prop_oneof![
            "[a-z]{1,10}".boxed(),
            proptest::sample::select(vec![
                "user", "group", "role", "visibility", "name", "desc", "old", "new", "password",
                "token", "heartbeat", "everywhere", "revoke", "with", "limit", "ids", "cid", "text",
            ]).prop_map(str::to_owned).boxed(),
        ],
        val in prop_oneof![
        Just("null".to_string()), Just("-1".to_string()), Just("1e400".to_string()), Just("[]".to_string()),
        Just("{}".to_string()), Just("\"\\ud800\"".to_string()), any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        "[ -~]{0,10}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        Just("\"admin\"".to_string()), Just("\"creator\"".to_string()), Just("\"private\"".to_string()),
    ]) {
        let s = format!("{{\"op\":\"{op}\",\"{key}\":{val},\"id\":1}}");
        if let Ok(f) = Frame::parse(s.as_bytes()) {
            let _ = f.request();
        }
    }

    #[test]
    fn server_frames_of_garbage_never_panic(key in "[a-z_]{1,10}", ev in "[a-z_]{0,26}", val in prop_oneof![
        Just("null".to_string()), Just("-1".to_string()), Just("{}".to_string()), Just("[]".to_string()),
        any::<u64>().prop_map(|n| n.to_string()), "[ -~]{0,10}".prop_map(|s| serde_json::to_string(&s).unwrap()),
    ]) {
        let _ = ServerFrame::parse(&format!("{{\"ev\":\"{ev}\",\"{key}\":{val}}}"));
        let _ = ServerFrame::parse(&format!("{{\"re\":1,\"ok\":false,\"{key}\":{val}}}"));
        let _ = ServerFrame::parse(&format!("{{\"re\":{val},\"ok\":true}}"));
    }
}

/// The strategies above reach every op and every event of the contract,
/// so the round trips cover all of them.
#[test]
fn strategies_cover_the_contract() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let requests = request_strategy();
    let mut ops = BTreeSet::new();
    for _ in 0..3000 {
        let req = requests.new_tree(&mut runner).unwrap().current();
        let v = serde_json::to_value(&req).unwrap();
        ops.insert(v["op"].as_str().unwrap().to_owned());
    }
    let ops: Vec<&str> = ops.iter().map(String::as_str).collect();
    let mut contract = CONTRACT_OPS.to_vec();
    contract.sort_unstable();
    assert_eq!(ops, contract);

    let events = event_strategy();
    let mut names = BTreeSet::new();
    for _ in 0..3000 {
        names.insert(event_name(&events.new_tree(&mut runner).unwrap().current()));
    }
    assert_eq!(names, CONTRACT_EVENTS.into_iter().collect());
}
