//! Protocol version 2 as a user of `chatclient` sees it, in script mode
//! against a real server in this process: friends by request and
//! consent, blocking, private groups joined by invite, kicks and roles,
//! and the account commands that end other sessions. Other users are
//! more `chatclient` processes, or raw protocol clients where only the
//! server's side matters. The no-echo prompts are tested in `pty.rs`.

mod harness;

use chat_testkit::TestServer;
use serde_json::json;

use harness::{Cli, PASSWORD, account, befriend, number_after, run_as};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friend_requests_are_declined_withdrawn_and_crossed() {
    let server = TestServer::start().await.unwrap();
    let alice = account(&server, "alice").await;
    let bob = account(&server, "bob").await;
    let mut carol = server.client().await.unwrap();
    let carol_id = carol.signup("carol").await.unwrap();
    let mut a = Cli::login(&server, alice).await;
    let mut b = Cli::login(&server, bob).await;

    // A request arrives live, saying how to answer it; `requests` lists it.
    carol
        .ok(json!({"op": "add_friend", "user": alice}))
        .await
        .unwrap();
    a.expect(&format!(
        "carol({carol_id}) wants to be your friend: accept:{carol_id} to accept, \
         decline:{carol_id} to decline"
    ))
    .await;
    a.send("requests").await;
    a.expect("friend requests").await;
    let row = a.expect("carol").await;
    assert!(row.trim_start().starts_with(&carol_id.to_string()), "{row}");
    a.expect("answer with accept:ID or decline:ID").await;
    a.expect("(no requests waiting for an answer)").await;
    a.send(&format!("decline:{carol_id}")).await;
    a.expect(&format!(
        "decline:{carol_id} -> declined the friend request from carol({carol_id})"
    ))
    .await;
    a.send(&format!("decline:{carol_id}")).await;
    a.expect(&format!(
        "error: there is no friend request from carol({carol_id}) (it may have been taken back)"
    ))
    .await;

    // Asked and withdrawn: bob hears both.
    a.send(&format!("addfriend:{bob}")).await;
    a.expect(&format!("friend request sent to bob({bob})"))
        .await;
    b.expect(&format!("alice({alice}) wants to be your friend"))
        .await;
    a.send(&format!("cancel:{bob}")).await;
    a.expect(&format!("took back your friend request to bob({bob})"))
        .await;
    b.expect(&format!("alice({alice}) took back their friend request"))
        .await;
    b.send(&format!("accept:{alice}")).await;
    b.expect("error: there is no friend request from alice")
        .await;

    // Crossing requests: the second `addfriend` accepts the first.
    b.send(&format!("addfriend:{alice}")).await;
    b.expect(&format!("friend request sent to alice({alice})"))
        .await;
    a.expect(&format!("bob({bob}) wants to be your friend"))
        .await;
    a.send(&format!("addfriend:{bob}")).await;
    a.expect(&format!(
        "addfriend:{bob} -> you and bob({bob}) are friends now"
    ))
    .await;
    b.expect(&format!("you and alice({alice}) are friends now"))
        .await;
    a.send("showme").await;
    let row = a.expect(" bob ").await;
    assert!(row.trim_end().ends_with("online"), "{row}");

    let (status, out) = a.finish().await;
    // The second decline failed: the exit status says so.
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(!out.contains("no_such_request"), "{out}");
    let (status, out) = b.finish().await;
    assert_eq!(status.code(), Some(1), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_ends_the_friendship_and_nothing_reaches_the_blocker() {
    let server = TestServer::start().await.unwrap();
    let alice = account(&server, "alice").await;
    let bob = account(&server, "bob").await;
    befriend(&server, alice, bob).await;
    let mut a = Cli::login(&server, alice).await;
    let mut b = Cli::login(&server, bob).await;

    a.send(&format!("block:{bob}")).await;
    a.expect(&format!(
        "blocked bob({bob}): nothing from them reaches you until unblock:{bob}"
    ))
    .await;
    b.expect(&format!("alice({alice}) is no longer your friend"))
        .await;
    // Asking someone you block is said before anything is sent.
    a.send(&format!("addfriend:{bob}")).await;
    a.expect(&format!("error: you block bob({bob}): unblock:{bob} first"))
        .await;
    // Bob learns nothing of the block: his request seems to go out.
    b.send(&format!("addfriend:{alice}")).await;
    b.expect(&format!("friend request sent to alice({alice})"))
        .await;
    b.send(&format!("chat:{alice}:hello?")).await;
    b.expect(&format!(
        "error: alice({alice}) is not your friend yet: send a request with addfriend:{alice}"
    ))
    .await;

    a.send("requests").await;
    a.expect("(no friend requests)").await;
    a.expect("blocked").await;
    let row = a.expect("bob").await;
    assert!(row.trim_start().starts_with(&bob.to_string()), "{row}");
    a.expect("unblock:ID lets one reach you again").await;
    a.send(&format!("unblock:{bob}")).await;
    a.expect(&format!("unblocked bob({bob})")).await;
    // No friendship comes back by itself.
    a.send(&format!("chat:{bob}:back?")).await;
    a.expect(&format!("bob({bob}) is not your friend yet"))
        .await;
    let (_, out) = a.finish().await;
    assert!(!out.contains("wants to be your friend"), "{out}");
    let (_, out) = b.finish().await;
    assert!(!out.contains("block"), "bob must not learn of it:\n{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_group_is_joined_by_invite() {
    let server = TestServer::start().await.unwrap();
    let alice = account(&server, "alice").await;
    let bob = account(&server, "bob").await;
    let carol = account(&server, "carol").await;
    befriend(&server, alice, bob).await;
    let mut a = Cli::login(&server, alice).await;
    let mut b = Cli::login(&server, bob).await;

    a.send("createprivate:club:members: only").await;
    let line = a.expect("created private group club(").await;
    let gid = number_after(&line, "created private group club(");
    assert!(
        line.ends_with(&format!("invite members with invite:{gid}:USERID")),
        "{line}"
    );
    // Invisible to others until invited.
    b.send(&format!("joingroup:{gid}")).await;
    b.expect(&format!(
        "error: there is no group with id {gid} that you can see"
    ))
    .await;

    a.send(&format!("invite:{gid}:{bob}")).await;
    a.expect(&format!("invited bob({bob}) to group club({gid})"))
        .await;
    b.expect(&format!(
        "alice({alice}) invites you to private group club({gid}): joingroup:{gid} to join, \
         declineinvite:{gid} to decline"
    ))
    .await;
    b.send(&format!("joingroup:{gid}")).await;
    b.expect(&format!("joined group club({gid})")).await;
    a.expect(&format!("bob({bob}) joined group club({gid})"))
        .await;
    // The group list shows it private, and bob a plain member.
    b.send("showme").await;
    let row = b.expect(" club ").await;
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells.first(), Some(&gid.to_string().as_str()), "{row}");
    assert_eq!(&cells[cells.len() - 2..], ["private", "member"], "{row}");

    // An invite waiting at login is on the login screen; declined, it
    // is gone and the group invisible again.
    a.send(&format!("invite:{gid}:{carol}")).await;
    a.expect(&format!("invited user {carol} to group club({gid})"))
        .await;
    let mut c = Cli::login(&server, carol).await;
    let screen = c.seen.join("\n");
    assert!(screen.contains("group invites"), "{screen}");
    assert!(
        screen.contains("join with joingroup:ID, or say no with declineinvite:ID"),
        "{screen}"
    );
    let row = c
        .seen
        .iter()
        .find(|l| l.contains(" club "))
        .unwrap_or_else(|| panic!("no invite row:\n{screen}"));
    assert!(
        row.trim_end().ends_with(&format!("alice({alice})")),
        "{row}"
    );
    c.send(&format!("declineinvite:{gid}")).await;
    c.expect(&format!("declined the invite to group club({gid})"))
        .await;
    c.send(&format!("joingroup:{gid}")).await;
    c.expect(&format!(
        "error: there is no group with id {gid} that you can see"
    ))
    .await;
    let (status, out) = a.finish().await;
    assert!(status.success(), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kicks_roles_and_handovers_are_seen_by_those_concerned() {
    let server = TestServer::start().await.unwrap();
    let alice = account(&server, "alice").await;
    let bob = account(&server, "bob").await;
    let carol = account(&server, "carol").await;
    let mut a = Cli::login(&server, alice).await;
    a.send("creategroup:fun:games").await;
    let line = a.expect("created group fun(").await;
    let gid = number_after(&line, "created group fun(");
    let mut b = Cli::login(&server, bob).await;
    b.send(&format!("joingroup:{gid}")).await;
    b.expect(&format!("joined group fun({gid})")).await;
    let mut c = Cli::login(&server, carol).await;
    c.send(&format!("joingroup:{gid}")).await;
    c.expect(&format!("joined group fun({gid})")).await;

    // A plain member may not kick, and is told who may.
    c.send(&format!("kick:{gid}:{bob}")).await;
    c.expect("error: only the group's creator or an admin can remove members")
        .await;
    a.send(&format!("role:{gid}:{bob}:admin")).await;
    a.expect(&format!("bob({bob}) is now an admin of group fun({gid})"))
        .await;
    b.expect(&format!("you are now an admin of group fun({gid})"))
        .await;
    // Carol never listed the members: the client finds bob's name.
    c.expect(&format!("bob({bob}) is now an admin of group fun({gid})"))
        .await;

    // The admin kicks carol: she is told by whom, the others too.
    b.send(&format!("kick:{gid}:{carol}")).await;
    b.expect(&format!("removed carol({carol}) from group fun({gid})"))
        .await;
    c.expect(&format!(
        "you were removed from group fun({gid}) by bob({bob})"
    ))
    .await;
    a.expect(&format!(
        "carol({carol}) was removed from group fun({gid}) by bob({bob})"
    ))
    .await;
    c.send(&format!("groupchat:{gid}:still here?")).await;
    c.expect(&format!(
        "error: you are not in group {gid}: join it with joingroup:{gid}"
    ))
    .await;

    // The creator hands the group over and becomes an admin.
    a.send(&format!("transfer:{gid}:{bob}")).await;
    a.expect(&format!(
        "bob({bob}) is now the creator of group fun({gid}); you are an admin of it"
    ))
    .await;
    b.expect(&format!("you are now the creator of group fun({gid})"))
        .await;
    b.send(&format!("quitgroup:{gid}")).await;
    b.expect(&format!(
        "error: the creator cannot leave the group: first hand it to a member with \
         transfer:{gid}:USERID, or delete it with deletegroup:{gid}"
    ))
    .await;
    a.send("showme").await;
    let row = a.expect(" fun ").await;
    assert!(row.trim_end().ends_with("public    admin"), "{row}");
    let (status, out) = a.finish().await;
    assert!(status.success(), "{out}");
    // Who made a change reads it once, in the answer, not again as news.
    assert_eq!(out.matches("is now an admin of group").count(), 1, "{out}");
    assert_eq!(
        out.matches("is now the creator of group").count(),
        1,
        "{out}"
    );
    assert!(!out.contains("you are now an admin"), "{out}");
    let (_, out) = b.finish().await;
    assert!(!out.contains("by you"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_ends_the_other_session() {
    let server = TestServer::start().await.unwrap();
    let alice = account(&server, "alice").await;
    let mut other = Cli::login(&server, alice).await;

    let (status, out) = run_as(
        &server,
        alice,
        &format!(
            "changepassword\n{PASSWORD}\nnewpass12\nnewpass13\n\
             changepassword\n{PASSWORD}\nnewpass12\nnewpass12\nshowme\n"
        ),
    )
    .await;
    assert_eq!(status.code(), Some(1), "the first try failed:\n{out}");
    assert!(
        out.contains("changepassword -> error: the two new passwords differ; nothing changed"),
        "{out}"
    );
    assert!(
        out.contains("changepassword -> password changed; your other sessions were logged out"),
        "{out}"
    );
    // This session goes on.
    assert!(
        out.contains("showme -> ----") && out.matches("account:").count() == 2,
        "{out}"
    );

    other
        .expect("this session was ended: your password was changed on another device")
        .await;
    other
        .expect("the session is over: the rest of the input is not run")
        .await;
    // It stops on its own, without trying the dead token again.
    let (status, out) = other.exits().await;
    assert_eq!(status.code(), Some(1), "{out}");
    for never in ["logged in again", "could not log in again", "connection"] {
        assert!(!out.contains(never), "{never:?} in:\n{out}");
    }

    // The new password logs in; the old one no longer does.
    let mut raw = server.client().await.unwrap();
    let r = raw
        .request(json!({"op": "login", "user": alice, "password": PASSWORD}))
        .await
        .unwrap();
    assert_eq!(r["code"], json!("bad_credentials"), "{r}");
    raw.login(alice, "newpass12").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logoutall_ends_every_session_and_deleteaccount_the_account() {
    let server = TestServer::start().await.unwrap();
    let alice = account(&server, "alice").await;
    let bob = account(&server, "bob").await;
    befriend(&server, alice, bob).await;

    let other = Cli::login(&server, alice).await;
    let (status, out) = run_as(&server, alice, "logoutall\n").await;
    assert!(status.success(), "{out}");
    assert!(
        out.contains("logoutall -> logged out here and on every other device"),
        "{out}"
    );
    assert!(out.contains("1. login"), "back to the menu:\n{out}");
    let (status, out) = other.exits().await;
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(
        out.contains("this session was ended: you logged out everywhere on another device"),
        "{out}"
    );

    let mut b = Cli::login(&server, bob).await;
    let (status, out) = run_as(
        &server,
        alice,
        &format!(
            "deleteaccount\nwrong-password\nyes\n\
             deleteaccount\n{PASSWORD}\nno\n\
             deleteaccount\n{PASSWORD}\nyes\n"
        ),
    )
    .await;
    assert_eq!(status.code(), Some(1), "a wrong password failed:\n{out}");
    for said in [
        "deleteaccount -> error: wrong password: the account was not deleted".to_owned(),
        "deleteaccount -> not deleted: the answer was not yes".to_owned(),
        format!("deleteaccount -> account alice({alice}) deleted: it cannot be used again"),
    ] {
        assert!(out.contains(&said), "{said:?} in:\n{out}");
    }
    // Back to the menu, quietly: the server ending this session too is
    // no outage.
    assert!(out.ends_with("3. quit\n========================"), "{out}");
    assert!(!out.contains("connection"), "{out}");
    assert!(!out.contains("this session was ended"), "{out}");
    b.expect(&format!("alice({alice}) is no longer your friend"))
        .await;
    let mut raw = server.client().await.unwrap();
    let r = raw
        .request(json!({"op": "login", "user": alice, "password": PASSWORD}))
        .await
        .unwrap();
    assert_eq!(r["code"], json!("bad_credentials"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failed_logins_are_told_when_to_try_again() {
    let server = TestServer::start_with(|c| c.login_failures_per_account = 2)
        .await
        .unwrap();
    let alice = account(&server, "alice").await;
    let mut cli = Cli::spawn(&server, &[]);
    for wrong in ["wrong-1", "wrong-2", "wrong-3"] {
        cli.send("1").await;
        cli.send(&alice.to_string()).await;
        cli.send(wrong).await;
    }
    cli.send("3").await;
    let (status, out) = cli.finish().await;
    assert_eq!(status.code(), Some(1), "{out}");
    assert_eq!(
        out.matches("error: wrong user id or password").count(),
        2,
        "{out}"
    );
    let line = out
        .lines()
        .find(|l| l.contains("too many failed logins"))
        .unwrap_or_else(|| panic!("no rate limit in:\n{out}"));
    let secs = number_after(line, "error: too many failed logins; try again in ");
    assert!(line.ends_with(&format!("{secs} s")), "{line}");
    assert!((1..=900).contains(&secs), "{line}");
    assert!(!out.contains("rate_limited"), "{out}");
}
