//! Store URLs: the file an `sqlite://` URL names, and a URL with its
//! password hidden for logs and errors.

/// The file an `sqlite://PATH?options` URL names.
pub fn sqlite_path(url: &str) -> Option<&str> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    path.split('?').next()
}

/// Hides the password of a URL for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("mysql://root:pw@127.0.0.1:3306/test"),
            "mysql://***@127.0.0.1:3306/test"
        );
        assert_eq!(redact("sqlite://data/chat.db"), "sqlite://data/chat.db");
    }

    #[test]
    fn finds_sqlite_paths() {
        assert_eq!(sqlite_path("sqlite://data/chat.db"), Some("data/chat.db"));
        assert_eq!(
            sqlite_path("sqlite:///tmp/x.db?mode=rwc"),
            Some("/tmp/x.db")
        );
        assert_eq!(sqlite_path("mysql://h/db"), None);
    }
}
