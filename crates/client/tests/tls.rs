//! `chatclient --tls`: the client speaks TLS to a server started with a
//! certificate, trusting a private authority given with `--ca`; without
//! trust in the server's certificate it says so and stops. Certificates
//! are made by the test (rcgen).

use std::process::Stdio;
use std::time::Duration;

use chat_testkit::TestServer;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::Command;

/// A CA, and a certificate for `localhost` it signed, in `dir`: returns
/// the paths of (ca.pem, cert.pem, key.pem).
fn certificates(
    dir: &std::path::Path,
) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf, std::path::PathBuf)> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::new(ca, &ca_key);
    let key = KeyPair::generate()?;
    let cert = CertificateParams::new(vec!["localhost".to_owned()])?.signed_by(&key, &issuer)?;
    let paths = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&paths.0, ca_cert.pem())?;
    std::fs::write(&paths.1, cert.pem())?;
    std::fs::write(&paths.2, key.serialize_pem())?;
    Ok(paths)
}

/// Runs chatclient against `localhost:port` with `args`, feeding `input`;
/// returns the exit status and everything it printed.
async fn run(port: u16, args: &[&str], input: &str) -> anyhow::Result<(i32, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatclient"))
        .arg("localhost")
        .arg(port.to_string())
        .args(args)
        .env_remove("CHAT_USER")
        .env_remove("CHAT_PASSWORD")
        .env_remove("CHAT_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped");
    stdin.write_all(input.as_bytes()).await?;
    drop(stdin);
    let mut out = String::new();
    let mut err = String::new();
    let (mut o, mut e) = (
        child.stdout.take().expect("piped"),
        child.stderr.take().expect("piped"),
    );
    let status = tokio::time::timeout(Duration::from_secs(30), async {
        o.read_to_string(&mut out).await?;
        e.read_to_string(&mut err).await?;
        child.wait().await
    })
    .await??;
    Ok((status.code().unwrap_or(-1), format!("{out}{err}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_speaks_tls_with_a_private_ca() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (ca, cert, key) = certificates(dir.path())?;
    let server = TestServer::start_with(|c| {
        c.tls_cert = Some(cert.clone());
        c.tls_key = Some(key.clone());
    })
    .await?;
    let port = server.addr.port();
    let ca = ca.display().to_string();
    let (code, out) = run(
        port,
        &[
            "--tls",
            "--ca",
            &ca,
            "--register",
            "dora",
            "--password",
            "password1",
        ],
        "showme\n",
    )
    .await?;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("username:dora"), "{out}");

    // Without trust in the server's certificate: a clear error, no hang.
    let (code, out) = run(
        port,
        &["--tls", "--register", "eve", "--password", "password1"],
        "",
    )
    .await?;
    assert_eq!(code, 3, "the server cannot be reached safely: {out}");
    assert!(
        out.to_lowercase().contains("certificate"),
        "says why: {out}"
    );
    Ok(())
}
