//! The JSON of every frame, pinned (so wire changes show up in review), and
//! properties: every frame round-trips, and no input panics the decoder.

use chat_proto::reply::{self, Empty, ErrorBody, Lists, LoggedIn, Sent};
use chat_proto::request::{Credential, DecodeError, Frame, HistoryTarget, Request, RequestFrame};
use chat_proto::{
    ErrorCode, Event, Group, LineDecoder, Member, Msg, MsgRef, Role, ServerFrame, User, Visibility,
};
use proptest::prelude::*;

fn line(frame: &RequestFrame) -> String {
    String::from_utf8(frame.to_line()).unwrap()
}

fn decode(s: &str) -> Result<(Option<u64>, Request), String> {
    let f = Frame::parse(s.as_bytes()).map_err(|e| e.to_string())?;
    let r = f.request().map_err(|e| e.to_string())?;
    Ok((f.id, r))
}

#[test]
fn request_json_is_pinned() {
    let cases: Vec<(RequestFrame, &str)> = vec![
        (
            RequestFrame {
                id: Some(1),
                request: Request::Ping,
            },
            r#"{"id":1,"op":"ping"}"#,
        ),
        (
            RequestFrame {
                id: None,
                request: Request::Register {
                    name: "kirito".into(),
                    password: "secret1".into(),
                },
            },
            r#"{"op":"register","name":"kirito","password":"secret1"}"#,
        ),
        (
            RequestFrame {
                id: Some(2),
                request: Request::Login {
                    user: 2019,
                    credential: Credential::Password("secret1".into()),
                    heartbeat: None,
                },
            },
            r#"{"id":2,"op":"login","user":2019,"password":"secret1"}"#,
        ),
        (
            RequestFrame {
                id: Some(3),
                request: Request::Login {
                    user: 2019,
                    credential: Credential::Token("tok".into()),
                    heartbeat: None,
                },
            },
            r#"{"id":3,"op":"login","user":2019,"token":"tok"}"#,
        ),
        (
            RequestFrame {
                id: Some(4),
                request: Request::Logout {
                    revoke: true,
                    everywhere: false,
                },
            },
            r#"{"id":4,"op":"logout","revoke":true,"everywhere":false}"#,
        ),
        (
            RequestFrame {
                id: Some(5),
                request: Request::Whoami,
            },
            r#"{"id":5,"op":"whoami"}"#,
        ),
        (
            RequestFrame {
                id: Some(6),
                request: Request::Sync,
            },
            r#"{"id":6,"op":"sync"}"#,
        ),
        (
            RequestFrame {
                id: Some(7),
                request: Request::AddFriend { user: 2001 },
            },
            r#"{"id":7,"op":"add_friend","user":2001}"#,
        ),
        (
            RequestFrame {
                id: Some(8),
                request: Request::RemoveFriend { user: 2001 },
            },
            r#"{"id":8,"op":"remove_friend","user":2001}"#,
        ),
        (
            RequestFrame {
                id: Some(17),
                request: Request::Chat {
                    to: 2001,
                    text: "hello".into(),
                    cid: None,
                },
            },
            r#"{"id":17,"op":"chat","to":2001,"text":"hello"}"#,
        ),
        (
            RequestFrame {
                id: Some(18),
                request: Request::Chat {
                    to: 2001,
                    text: "a:b".into(),
                    cid: Some("c1".into()),
                },
            },
            r#"{"id":18,"op":"chat","to":2001,"text":"a:b","cid":"c1"}"#,
        ),
        (
            RequestFrame {
                id: Some(9),
                request: Request::CreateGroup {
                    name: "blue".into(),
                    desc: "blue test".into(),
                    visibility: Visibility::Public,
                },
            },
            r#"{"id":9,"op":"create_group","name":"blue","desc":"blue test","visibility":"public"}"#,
        ),
        (
            RequestFrame {
                id: Some(10),
                request: Request::JoinGroup { group: 3 },
            },
            r#"{"id":10,"op":"join_group","group":3}"#,
        ),
        (
            RequestFrame {
                id: Some(11),
                request: Request::QuitGroup { group: 3 },
            },
            r#"{"id":11,"op":"quit_group","group":3}"#,
        ),
        (
            RequestFrame {
                id: Some(12),
                request: Request::DeleteGroup { group: 3 },
            },
            r#"{"id":12,"op":"delete_group","group":3}"#,
        ),
        (
            RequestFrame {
                id: Some(13),
                request: Request::GroupMembers { group: 3 },
            },
            r#"{"id":13,"op":"group_members","group":3}"#,
        ),
        (
            RequestFrame {
                id: Some(14),
                request: Request::GroupChat {
                    group: 3,
                    text: "hi all".into(),
                    cid: None,
                },
            },
            r#"{"id":14,"op":"group_chat","group":3,"text":"hi all"}"#,
        ),
        (
            RequestFrame {
                id: Some(15),
                request: Request::History {
                    target: HistoryTarget::With(2001),
                    before: Some(90),
                    limit: 20,
                },
            },
            r#"{"id":15,"op":"history","with":2001,"before":90,"limit":20}"#,
        ),
        (
            RequestFrame {
                id: Some(16),
                request: Request::History {
                    target: HistoryTarget::Group(3),
                    before: None,
                    limit: 50,
                },
            },
            r#"{"id":16,"op":"history","group":3,"limit":50}"#,
        ),
        (
            RequestFrame {
                id: Some(19),
                request: Request::Ack { ids: vec![1, 2] },
            },
            r#"{"id":19,"op":"ack","ids":[1,2]}"#,
        ),
    ];
    for (frame, json) in cases {
        assert_eq!(line(&frame), format!("{json}\n"));
        assert_eq!(
            decode(json).unwrap(),
            (frame.id, frame.request.clone()),
            "{json}"
        );
    }
}

#[test]
fn reply_and_event_json_is_pinned() {
    let ok = reply::ok_line(
        Some(17),
        &Sent {
            msg: MsgRef {
                id: 90211,
                ts: 1764190800123,
            },
        },
    );
    assert_eq!(
        ok,
        b"{\"re\":17,\"ok\":true,\"msg\":{\"id\":90211,\"ts\":1764190800123}}\n"
    );
    let err = reply::err_line(
        Some(18),
        ErrorCode::NotFriend,
        "user 2002 is not your friend",
    );
    assert_eq!(
        err,
        b"{\"re\":18,\"ok\":false,\"code\":\"not_friend\",\"error\":\"user 2002 is not your friend\"}\n"
    );
    assert_eq!(
        reply::ok_line(None, &Empty {}),
        b"{\"re\":null,\"ok\":true}\n"
    );
    let login = LoggedIn {
        user: User {
            id: 2019,
            name: "kirito".into(),
            online: None,
        },
        token: "t".into(),
        lists: Lists {
            friends: vec![User {
                id: 2001,
                name: "kir".into(),
                online: Some(false),
            }],
            groups: vec![Group {
                id: 1,
                name: "happy game".into(),
                desc: "happy play".into(),
                visibility: Visibility::Public,
                role: Some(Role::Creator),
            }],
            ..Lists::default()
        },
        unread: 2,
    };
    assert_eq!(
        String::from_utf8(reply::ok_line(Some(2), &login)).unwrap(),
        concat!(
            r#"{"re":2,"ok":true,"user":{"id":2019,"name":"kirito"},"token":"t","#,
            r#""friends":[{"id":2001,"name":"kir","online":false}],"#,
            r#""groups":[{"id":1,"name":"happy game","desc":"happy play","visibility":"public","role":"creator"}],"#,
            r#""requests_in":[],"requests_out":[],"blocked":[],"invites":[],"unread":2}"#,
            "\n"
        )
    );
    let members = reply::Members {
        members: vec![Member {
            id: 7,
            name: "m".into(),
            online: true,
            role: Role::Member,
        }],
    };
    assert_eq!(
        reply::ok_line(Some(1), &members),
        b"{\"re\":1,\"ok\":true,\"members\":[{\"id\":7,\"name\":\"m\",\"online\":true,\"role\":\"member\"}]}\n"
    );

    let events: Vec<(Event, &str)> = vec![
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
            Event::FriendAdded {
                user: User {
                    id: 1,
                    name: "a".into(),
                    online: Some(true),
                },
            },
            r#"{"ev":"friend_added","user":{"id":1,"name":"a","online":true}}"#,
        ),
        (
            Event::FriendRemoved { user: 1 },
            r#"{"ev":"friend_removed","user":1}"#,
        ),
        (
            Event::GroupDeleted { group: 3 },
            r#"{"ev":"group_deleted","group":3}"#,
        ),
        (
            Event::MemberJoined {
                group: 3,
                user: User {
                    id: 1,
                    name: "a".into(),
                    online: Some(true),
                },
            },
            r#"{"ev":"member_joined","group":3,"user":{"id":1,"name":"a","online":true}}"#,
        ),
        (
            Event::MemberLeft {
                group: 3,
                user: User {
                    id: 1,
                    name: "a".into(),
                    online: Some(false),
                },
                by: None,
            },
            r#"{"ev":"member_left","group":3,"user":{"id":1,"name":"a","online":false}}"#,
        ),
    ];
    for (ev, json) in events {
        assert_eq!(ev.to_line(), format!("{json}\n").into_bytes());
        assert_eq!(ServerFrame::parse(json).unwrap(), ServerFrame::Event(ev));
    }
}

#[test]
fn envelope_errors() {
    let bad_json = |s: &str| matches!(Frame::parse(s.as_bytes()), Err(DecodeError::BadJson(_)));
    assert!(bad_json("hello"));
    assert!(bad_json("[1,2]"));
    assert!(bad_json("{\"op\":"));
    assert!(bad_json("42"));
    assert!(matches!(
        Frame::parse(b"{\"op\":\"nope\",\"id\":4}"),
        Err(DecodeError::UnknownOp { id: Some(4), .. })
    ));
    let e = Frame::parse(b"{\"id\":5}").err().unwrap();
    assert_eq!(e.id(), Some(5));
    assert!(e.to_string().contains("`op`"));
    let e = Frame::parse(b"{\"op\":\"ping\",\"id\":-1}").err().unwrap();
    assert!(matches!(e, DecodeError::BadRequest { id: None, .. }));
    assert!(e.to_string().contains("`id`"));
    assert!(matches!(
        Frame::parse(b"{\"op\":7}"),
        Err(DecodeError::BadRequest { .. })
    ));
    assert!(matches!(
        Frame::parse(b"{\"op\":\"ping\",\"op\":\"ping\"}"),
        Err(DecodeError::BadRequest { .. })
    ));
    // Invalid UTF-8 inside a string is not JSON.
    assert!(matches!(
        Frame::parse(b"{\"op\":\"p\xffng\"}"),
        Err(DecodeError::BadJson(_))
    ));
    // Unknown fields are ignored; null counts as absent.
    assert_eq!(
        decode(r#"{"op":"ping","id":1,"extra":[1,{"x":2}]}"#).unwrap(),
        (Some(1), Request::Ping)
    );
    assert_eq!(
        decode(r#"{"op":"chat","to":2,"text":"x","cid":null}"#)
            .unwrap()
            .1,
        Request::Chat {
            to: 2,
            text: "x".into(),
            cid: None
        }
    );
}

#[test]
fn field_errors_name_the_field() {
    let err = |s: &str| decode(s).unwrap_err();
    assert!(err(r#"{"op":"chat","text":"x"}"#).contains("`to`"));
    assert!(err(r#"{"op":"chat","to":"2","text":"x"}"#).contains("`to`"));
    assert!(err(r#"{"op":"chat","to":-2,"text":"x"}"#).contains("`to`"));
    assert!(err(r#"{"op":"chat","to":1.5,"text":"x"}"#).contains("`to`"));
    assert!(err(r#"{"op":"chat","to":99999999999999999999999,"text":"x"}"#).contains("`to`"));
    assert!(err(r#"{"op":"chat","to":2,"text":"   "}"#).contains("`text`"));
    assert!(err(r#"{"op":"chat","to":2,"text":5}"#).contains("`text`"));
    assert!(err(r#"{"op":"chat","to":2,"text":"x","cid":""}"#).contains("`cid`"));
    assert!(err(r#"{"op":"register","name":"","password":"secret1"}"#).contains("`name`"));
    assert!(err(r#"{"op":"register","name":"bob","password":"short"}"#).contains("`password`"));
    assert!(err(r#"{"op":"login","user":1}"#).contains("`password`"));
    assert!(err(r#"{"op":"login","user":1,"password":"secret1","token":"t"}"#).contains("`token`"));
    assert!(err(r#"{"op":"history"}"#).contains("`with`"));
    assert!(err(r#"{"op":"history","with":1,"group":2}"#).contains("`group`"));
    assert!(err(r#"{"op":"history","with":1,"limit":0}"#).contains("`limit`"));
    assert!(err(r#"{"op":"history","with":1,"limit":101}"#).contains("`limit`"));
    assert!(err(r#"{"op":"ack","ids":[]}"#).contains("`ids`"));
    assert!(err(r#"{"op":"ack","ids":[1,-1]}"#).contains("`ids`"));
    assert!(err(r#"{"op":"logout","revoke":"yes"}"#).contains("`revoke`"));
    assert!(err(r#"{"op":"create_group","name":"g","desc":7}"#).contains("`desc`"));
}

#[test]
fn failed_replies_decode_for_clients() {
    let line = String::from_utf8(reply::err_line(Some(3), ErrorCode::Forbidden, "no")).unwrap();
    let ServerFrame::Reply(r) = ServerFrame::parse(line.trim_end()).unwrap() else {
        panic!("not a reply")
    };
    assert_eq!(r.re, Some(3));
    assert_eq!(
        r.result,
        Err(ErrorBody {
            code: ErrorCode::Forbidden,
            error: "no".into(),
            retry_after: None,
        })
    );
    assert!(r.body::<Empty>().is_err());
}

fn text_strategy() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 :\"\\\\é😀\n\t{}]{0,40}".prop_map(|s| format!("x{s}"))
}

fn name_strategy() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9é_ -]{0,20}".prop_map(|s| format!("n{}", s.trim()))
}

fn request_strategy() -> impl Strategy<Value = Request> {
    let cid = proptest::option::of("[a-z0-9-]{1,64}");
    prop_oneof![
        Just(Request::Ping),
        Just(Request::Whoami),
        Just(Request::Sync),
        (name_strategy(), "[ -~]{6,128}")
            .prop_map(|(name, password)| Request::Register { name, password }),
        (any::<u64>(), "[ -~]{6,128}").prop_map(|(user, p)| Request::Login {
            user,
            credential: Credential::Password(p),
            heartbeat: None,
        }),
        (any::<u64>(), "[A-Za-z0-9_-]{1,64}").prop_map(|(user, t)| Request::Login {
            user,
            credential: Credential::Token(t),
            heartbeat: None,
        }),
        any::<bool>().prop_map(|revoke| Request::Logout {
            revoke,
            everywhere: false
        }),
        any::<u64>().prop_map(|user| Request::AddFriend { user }),
        any::<u64>().prop_map(|user| Request::RemoveFriend { user }),
        (any::<u64>(), text_strategy(), cid.clone()).prop_map(|(to, text, cid)| Request::Chat {
            to,
            text,
            cid
        }),
        (name_strategy(), "[a-z ]{0,100}").prop_map(|(name, desc)| Request::CreateGroup {
            name,
            desc,
            visibility: Visibility::Public
        }),
        any::<u64>().prop_map(|group| Request::JoinGroup { group }),
        any::<u64>().prop_map(|group| Request::QuitGroup { group }),
        any::<u64>().prop_map(|group| Request::DeleteGroup { group }),
        any::<u64>().prop_map(|group| Request::GroupMembers { group }),
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

fn event_strategy() -> impl Strategy<Value = Event> {
    prop_oneof![
        msg_strategy().prop_map(|msg| Event::Msg { msg }),
        (any::<u64>(), any::<bool>()).prop_map(|(user, online)| Event::Presence { user, online }),
        user_strategy().prop_map(|user| Event::FriendAdded { user }),
        any::<u64>().prop_map(|user| Event::FriendRemoved { user }),
        any::<u64>().prop_map(|group| Event::GroupDeleted { group }),
        (any::<u64>(), user_strategy())
            .prop_map(|(group, user)| Event::MemberJoined { group, user }),
        (any::<u64>(), user_strategy()).prop_map(|(group, user)| Event::MemberLeft {
            group,
            user,
            by: None
        }),
    ]
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
        let history = reply::History { messages: msgs };
        let line = String::from_utf8(reply::ok_line(re, &history)).unwrap();
        let ServerFrame::Reply(r) = ServerFrame::parse(line.trim_end()).unwrap() else { panic!("not a reply") };
        prop_assert_eq!(r.re, re);
        prop_assert_eq!(r.body::<reply::History>().unwrap(), history);
        let sent = Sent { msg: MsgRef { id, ts } };
        let line = String::from_utf8(reply::ok_line(re, &sent)).unwrap();
        let ServerFrame::Reply(r) = ServerFrame::parse(line.trim_end()).unwrap() else { panic!("not a reply") };
        prop_assert_eq!(r.body::<Sent>().unwrap(), sent);
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
                    }
                    Ok(None) => break,
                    Err(_) => { dec.clear(); break; }
                }
            }
        }
    }

    #[test]
    fn json_shaped_garbage_never_panics(op in "[a-z_]{0,14}", key in "[a-z]{1,8}", val in prop_oneof![
        Just("null".to_string()), Just("-1".to_string()), Just("1e400".to_string()), Just("[]".to_string()),
        Just("{}".to_string()), Just("\"\\ud800\"".to_string()), any::<i64>().prop_map(|n| n.to_string()),
        "[ -~]{0,10}".prop_map(|s| serde_json::to_string(&s).unwrap()),
    ]) {
        let s = format!("{{\"op\":\"{op}\",\"{key}\":{val},\"id\":1}}");
        if let Ok(f) = Frame::parse(s.as_bytes()) {
            let _ = f.request();
        }
    }
}
