//! The decoder against the contract's field rules: the envelope (`op`,
//! `id`), and for every op, a field that is missing, of the wrong type or
//! out of range is an error that names that field.

use chat_proto::request::{Credential, DecodeError, Frame, Request};
use chat_proto::{Role, Visibility};

fn decode(s: &str) -> Result<(Option<u64>, Request), String> {
    let f = Frame::parse(s.as_bytes()).map_err(|e| e.to_string())?;
    let r = f.request().map_err(|e| e.to_string())?;
    Ok((f.id, r))
}

fn ok(s: &str) -> Request {
    decode(s).unwrap_or_else(|e| panic!("{s}: {e}")).1
}

/// The field the decoder names for `s`, which must have a good envelope
/// and a bad field; the message names it as `field` too.
#[track_caller]
fn bad_field(s: &str) -> &'static str {
    let f = Frame::parse(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: envelope: {e}"));
    let e = match f.request() {
        Ok(r) => panic!("{s}: decoded as {r:?}"),
        Err(e) => e,
    };
    assert!(
        e.to_string().starts_with(&format!("field `{}` ", e.field)),
        "{s}: {e}"
    );
    e.field
}

/// Asserts every frame of `cases` is rejected naming the field given.
#[track_caller]
fn all_name(cases: &[(&str, &str)]) {
    for (json, field) in cases {
        assert_eq!(bad_field(json), *field, "{json}");
    }
}

/// The ways an id field can be wrong: each is rejected naming the field.
#[track_caller]
fn ids_are_checked(op: &str, fields: &[&str]) {
    for missing in fields {
        let rest: Vec<String> = fields
            .iter()
            .filter(|f| *f != missing)
            .map(|f| format!(r#","{f}":1"#))
            .collect();
        let rest = rest.concat();
        assert_eq!(
            bad_field(&format!(r#"{{"op":"{op}"{rest}}}"#)),
            *missing,
            "{op} without {missing}"
        );
        for bad in [
            r#""2""#,
            "-1",
            "1.5",
            "true",
            "[1]",
            "{}",
            "99999999999999999999999",
        ] {
            assert_eq!(
                bad_field(&format!(r#"{{"op":"{op}"{rest},"{missing}":{bad}}}"#)),
                *missing,
                "{op} with {missing}: {bad}"
            );
        }
        assert_eq!(
            bad_field(&format!(r#"{{"op":"{op}"{rest},"{missing}":null}}"#)),
            *missing,
            "{op} with {missing}: null"
        );
    }
}

#[test]
fn envelope_errors() {
    let bad_json = |s: &str| matches!(Frame::parse(s.as_bytes()), Err(DecodeError::BadJson(_)));
    assert!(bad_json("hello"));
    assert!(bad_json("[1,2]"));
    assert!(bad_json("{\"op\":"));
    assert!(bad_json("42"));
    assert!(bad_json("\"{}\""));
    assert!(matches!(
        Frame::parse(b"{\"op\":\"nope\",\"id\":4}"),
        Err(DecodeError::UnknownOp { id: Some(4), .. })
    ));
    // Version 2 names are exact: no other case, no aliases.
    for op in [
        "Accept_Friend",
        "acceptFriend",
        "set-role",
        "transfer",
        "leave_group",
    ] {
        let line = format!(r#"{{"op":"{op}","id":9}}"#);
        assert!(
            matches!(
                Frame::parse(line.as_bytes()),
                Err(DecodeError::UnknownOp { id: Some(9), .. })
            ),
            "{op}"
        );
    }
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
    assert!(matches!(
        Frame::parse(br#"{"op":"set_role","group":1,"user":2,"role":"admin","role":"member"}"#),
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
        ok(r#"{"op":"chat","to":2,"text":"x","cid":null}"#),
        Request::Chat {
            to: 2,
            text: "x".into(),
            cid: None
        }
    );
}

#[test]
fn version_1_field_errors_name_the_field() {
    all_name(&[
        (r#"{"op":"chat","text":"x"}"#, "to"),
        (r#"{"op":"chat","to":"2","text":"x"}"#, "to"),
        (r#"{"op":"chat","to":-2,"text":"x"}"#, "to"),
        (r#"{"op":"chat","to":1.5,"text":"x"}"#, "to"),
        (
            r#"{"op":"chat","to":99999999999999999999999,"text":"x"}"#,
            "to",
        ),
        (r#"{"op":"chat","to":2,"text":"   "}"#, "text"),
        (r#"{"op":"chat","to":2,"text":5}"#, "text"),
        (r#"{"op":"chat","to":2,"text":"x","cid":""}"#, "cid"),
        (
            r#"{"op":"register","name":"","password":"secret1"}"#,
            "name",
        ),
        (
            r#"{"op":"register","name":"bob","password":"short"}"#,
            "password",
        ),
        (r#"{"op":"login","user":1}"#, "password"),
        (r#"{"op":"login","password":"secret1"}"#, "user"),
        (
            r#"{"op":"login","user":1,"password":"secret1","token":"t"}"#,
            "token",
        ),
        (r#"{"op":"login","user":1,"password":"short"}"#, "password"),
        (r#"{"op":"login","user":1,"token":""}"#, "token"),
        (r#"{"op":"history"}"#, "with"),
        (r#"{"op":"history","with":1,"group":2}"#, "group"),
        (r#"{"op":"history","with":1,"limit":0}"#, "limit"),
        (r#"{"op":"history","with":1,"limit":101}"#, "limit"),
        (r#"{"op":"ack","ids":[]}"#, "ids"),
        (r#"{"op":"ack","ids":[1,-1]}"#, "ids"),
        (r#"{"op":"ack"}"#, "ids"),
        (r#"{"op":"logout","revoke":"yes"}"#, "revoke"),
        (r#"{"op":"create_group","name":"g","desc":7}"#, "desc"),
        (r#"{"op":"create_group","desc":"d"}"#, "name"),
    ]);
}

#[test]
fn ids_of_every_op_name_the_field() {
    for op in [
        "add_friend",
        "accept_friend",
        "decline_friend",
        "cancel_friend",
        "block",
        "unblock",
        "remove_friend",
    ] {
        ids_are_checked(op, &["user"]);
    }
    for op in [
        "join_group",
        "decline_invite",
        "quit_group",
        "delete_group",
        "group_members",
    ] {
        ids_are_checked(op, &["group"]);
    }
    for op in ["invite", "kick", "transfer_group"] {
        ids_are_checked(op, &["group", "user"]);
    }
    // The other fields of these ops, valid, alongside.
    for (missing, rest) in [
        ("group", r#","user":1,"role":"admin""#),
        ("user", r#","group":1,"role":"admin""#),
    ] {
        assert_eq!(bad_field(&format!(r#"{{"op":"set_role"{rest}}}"#)), missing);
        assert_eq!(
            bad_field(&format!(r#"{{"op":"set_role"{rest},"{missing}":"1"}}"#)),
            missing
        );
    }
    assert_eq!(bad_field(r#"{"op":"update_group","name":"g"}"#), "group");
    assert_eq!(
        bad_field(r#"{"op":"update_group","group":-3,"name":"g"}"#),
        "group"
    );
    assert_eq!(
        bad_field(r#"{"op":"login","user":"2019","token":"t"}"#),
        "user"
    );
}

#[test]
fn set_role_takes_admin_or_member_only() {
    assert_eq!(
        ok(r#"{"op":"set_role","group":3,"user":2001,"role":"admin"}"#),
        Request::SetRole {
            group: 3,
            user: 2001,
            role: Role::Admin
        }
    );
    assert_eq!(
        ok(r#"{"op":"set_role","group":3,"user":2001,"role":"member"}"#),
        Request::SetRole {
            group: 3,
            user: 2001,
            role: Role::Member
        }
    );
    all_name(&[
        (r#"{"op":"set_role","group":3,"user":2001}"#, "role"),
        (
            r#"{"op":"set_role","group":3,"user":2001,"role":null}"#,
            "role",
        ),
        (
            r#"{"op":"set_role","group":3,"user":2001,"role":"creator"}"#,
            "role",
        ),
        (
            r#"{"op":"set_role","group":3,"user":2001,"role":"owner"}"#,
            "role",
        ),
        (
            r#"{"op":"set_role","group":3,"user":2001,"role":"Admin"}"#,
            "role",
        ),
        (
            r#"{"op":"set_role","group":3,"user":2001,"role":" admin"}"#,
            "role",
        ),
        (
            r#"{"op":"set_role","group":3,"user":2001,"role":""}"#,
            "role",
        ),
        (
            r#"{"op":"set_role","group":3,"user":2001,"role":1}"#,
            "role",
        ),
        (
            r#"{"op":"set_role","group":3,"user":2001,"role":["admin"]}"#,
            "role",
        ),
        (
            r#"{"op":"set_role","group":3,"user":2001,"role":{"admin":true}}"#,
            "role",
        ),
    ]);
}

#[test]
fn visibility_is_public_or_private() {
    for (v, want) in [
        ("public", Visibility::Public),
        ("private", Visibility::Private),
    ] {
        assert_eq!(
            ok(&format!(
                r#"{{"op":"create_group","name":"g","visibility":"{v}"}}"#
            )),
            Request::CreateGroup {
                name: "g".into(),
                desc: String::new(),
                visibility: want
            }
        );
        assert_eq!(
            ok(&format!(
                r#"{{"op":"update_group","group":1,"visibility":"{v}"}}"#
            )),
            Request::UpdateGroup {
                group: 1,
                name: None,
                desc: None,
                visibility: Some(want)
            }
        );
    }
    for bad in [
        r#""hidden""#,
        r#""Public""#,
        r#""PRIVATE""#,
        r#"" public""#,
        r#""""#,
        "true",
        "0",
        "[]",
    ] {
        assert_eq!(
            bad_field(&format!(
                r#"{{"op":"create_group","name":"g","visibility":{bad}}}"#
            )),
            "visibility",
            "create_group {bad}"
        );
        assert_eq!(
            bad_field(&format!(
                r#"{{"op":"update_group","group":1,"visibility":{bad}}}"#
            )),
            "visibility",
            "update_group {bad}"
        );
    }
}

#[test]
fn update_group_needs_one_field_and_checks_each() {
    // Each optional field on its own is enough.
    assert_eq!(
        ok(r#"{"op":"update_group","group":1,"name":" g2 "}"#),
        Request::UpdateGroup {
            group: 1,
            name: Some("g2".into()),
            desc: None,
            visibility: None
        }
    );
    assert_eq!(
        ok(r#"{"op":"update_group","group":1,"desc":""}"#),
        Request::UpdateGroup {
            group: 1,
            name: None,
            desc: Some(String::new()),
            visibility: None
        }
    );
    let long_desc = "d".repeat(256);
    assert_eq!(
        ok(&format!(
            r#"{{"op":"update_group","group":1,"desc":"{long_desc}"}}"#
        )),
        Request::UpdateGroup {
            group: 1,
            name: None,
            desc: Some(long_desc.clone()),
            visibility: None
        }
    );
    // None of them: an error that names a field and says what to give.
    for none in [
        r#"{"op":"update_group","group":1}"#,
        r#"{"op":"update_group","group":1,"name":null,"desc":null,"visibility":null}"#,
        r#"{"op":"update_group","group":1,"role":"admin","user":2}"#,
    ] {
        let f = Frame::parse(none.as_bytes()).unwrap();
        let e = f.request().unwrap_err();
        assert_eq!(e.field, "name", "{none}");
        let msg = e.to_string();
        for named in ["`desc`", "`visibility`"] {
            assert!(msg.contains(named), "{msg}");
        }
    }
    let name65 = "n".repeat(65);
    let desc257 = "d".repeat(257);
    all_name(&[
        (r#"{"op":"update_group","group":1,"name":""}"#, "name"),
        (r#"{"op":"update_group","group":1,"name":"   "}"#, "name"),
        (r#"{"op":"update_group","group":1,"name":5}"#, "name"),
        (
            &format!(r#"{{"op":"update_group","group":1,"name":"{name65}"}}"#),
            "name",
        ),
        (
            &format!(r#"{{"op":"update_group","group":1,"desc":"{desc257}"}}"#),
            "desc",
        ),
        (r#"{"op":"update_group","group":1,"desc":false}"#, "desc"),
        // A bad field is reported even when a good one is present.
        (
            r#"{"op":"update_group","group":1,"name":"ok","visibility":"open"}"#,
            "visibility",
        ),
        (
            r#"{"op":"update_group","group":1,"visibility":"public","desc":1}"#,
            "desc",
        ),
    ]);
}

#[test]
fn account_ops_name_their_fields() {
    assert_eq!(
        ok(r#"{"op":"change_password","old":"secret1","new":"secret2"}"#),
        Request::ChangePassword {
            old: "secret1".into(),
            new: "secret2".into()
        }
    );
    let long = "p".repeat(129);
    all_name(&[
        (r#"{"op":"change_password","new":"secret2"}"#, "old"),
        (r#"{"op":"change_password","old":1,"new":"secret2"}"#, "old"),
        (
            r#"{"op":"change_password","old":null,"new":"secret2"}"#,
            "old",
        ),
        (r#"{"op":"change_password","old":"secret1"}"#, "new"),
        (r#"{"op":"change_password","old":"secret1","new":7}"#, "new"),
        (
            r#"{"op":"change_password","old":"secret1","new":"short"}"#,
            "new",
        ),
        (
            &format!(r#"{{"op":"change_password","old":"secret1","new":"{long}"}}"#),
            "new",
        ),
        // The old password under `password` is not `old`.
        (
            r#"{"op":"change_password","password":"secret1","new":"secret2"}"#,
            "old",
        ),
        (r#"{"op":"delete_account"}"#, "password"),
        (r#"{"op":"delete_account","password":null}"#, "password"),
        (r#"{"op":"delete_account","password":123456}"#, "password"),
        (
            r#"{"op":"delete_account","password":["secret1"]}"#,
            "password",
        ),
        // `password` is 6 to 128 bytes wherever it appears.
        (r#"{"op":"delete_account","password":"short"}"#, "password"),
        (r#"{"op":"delete_account","password":""}"#, "password"),
        (
            &format!(r#"{{"op":"delete_account","password":"{long}"}}"#),
            "password",
        ),
        (r#"{"op":"logout","everywhere":"yes"}"#, "everywhere"),
        (r#"{"op":"logout","everywhere":1}"#, "everywhere"),
        (
            r#"{"op":"logout","revoke":true,"everywhere":"true"}"#,
            "everywhere",
        ),
    ]);
    assert_eq!(
        ok(&format!(
            r#"{{"op":"delete_account","password":"{}"}}"#,
            "p".repeat(128)
        )),
        Request::DeleteAccount {
            password: "p".repeat(128)
        }
    );
    // The rule is the password rule, told about `new`.
    let e = Frame::parse(br#"{"op":"change_password","old":"secret1","new":"short"}"#)
        .unwrap()
        .request()
        .unwrap_err();
    assert_eq!(e.to_string(), "field `new` must be 6 to 128 bytes");
    assert_eq!(
        ok(&format!(
            r#"{{"op":"change_password","old":"secret1","new":"{}"}}"#,
            "p".repeat(128)
        )),
        Request::ChangePassword {
            old: "secret1".into(),
            new: "p".repeat(128)
        }
    );
}

#[test]
fn heartbeat_is_5_to_3600_seconds() {
    let login =
        |hb: &str| format!(r#"{{"op":"login","user":1,"password":"secret1","heartbeat":{hb}}}"#);
    for (hb, want) in [("5", 5), ("30", 30), ("3600", 3600)] {
        assert_eq!(
            ok(&login(hb)),
            Request::Login {
                user: 1,
                credential: Credential::Password("secret1".into()),
                heartbeat: Some(want)
            },
            "{hb}"
        );
    }
    for hb in [
        "0",
        "4",
        "3601",
        "4294967296",
        "18446744073709551615",
        "99999999999999999999999",
        "-5",
        "30.5",
        "1e2",
        r#""30""#,
        "true",
        "[30]",
    ] {
        assert_eq!(bad_field(&login(hb)), "heartbeat", "{hb}");
    }
    let e = Frame::parse(login("4").as_bytes())
        .unwrap()
        .request()
        .unwrap_err();
    assert_eq!(e.to_string(), "field `heartbeat` must be 5 to 3600 seconds");
    // With a token too; and a bad credential is reported before it.
    assert_eq!(
        ok(r#"{"op":"login","user":1,"token":"t","heartbeat":60}"#),
        Request::Login {
            user: 1,
            credential: Credential::Token("t".into()),
            heartbeat: Some(60)
        }
    );
    assert_eq!(
        bad_field(r#"{"op":"login","user":1,"token":"t","heartbeat":1}"#),
        "heartbeat"
    );
    assert_eq!(
        bad_field(r#"{"op":"login","user":1,"password":"x","heartbeat":1}"#),
        "password"
    );
}

#[test]
fn create_group_rules() {
    let name65 = "n".repeat(65);
    let desc257 = "é".repeat(257);
    assert_eq!(
        ok(&format!(
            r#"{{"op":"create_group","name":"{}","desc":"{}","visibility":"private"}}"#,
            "n".repeat(64),
            "é".repeat(256)
        )),
        Request::CreateGroup {
            name: "n".repeat(64),
            desc: "é".repeat(256),
            visibility: Visibility::Private
        }
    );
    all_name(&[
        (r#"{"op":"create_group"}"#, "name"),
        (r#"{"op":"create_group","name":null}"#, "name"),
        (r#"{"op":"create_group","name":" "}"#, "name"),
        (
            &format!(r#"{{"op":"create_group","name":"{name65}"}}"#),
            "name",
        ),
        (
            &format!(r#"{{"op":"create_group","name":"g","desc":"{desc257}"}}"#),
            "desc",
        ),
    ]);
}
