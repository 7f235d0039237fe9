//! What one request gets: GET only (405 otherwise, HEAD too), no request body (413), and
//! four routes; anything else is 404. Every answer but a 200 carries the reason the log
//! line gives, with what the client sent escaped.

use std::path::Path;
use std::sync::Arc;

use hyper::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use hyper::{Method, Request, Response, StatusCode};

use super::body::Body;
use super::file::{self, Refused};
use super::Shared;
use crate::output::escape::escape;

/// An answer and, unless it is a 200, why (for the log).
pub struct Answer {
    pub response: Response<Body>,
    pub refusal: Option<String>,
}

fn plain(status: StatusCode, why: String) -> Answer {
    let mut r = Response::new(Body::text(format!(
        "{}\n",
        status.canonical_reason().unwrap_or("refused")
    )));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Answer {
        response: r,
        refusal: Some(format!("{} {why}", status.as_u16())),
    }
}

fn ok(body: Body, content_type: &'static str) -> Answer {
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    Answer {
        response: r,
        refusal: None,
    }
}

/// Whether the request announces a body: a Content-Length other than 0, or any
/// Transfer-Encoding.
fn has_body<B>(req: &Request<B>) -> bool {
    req.headers().contains_key(TRANSFER_ENCODING)
        || req
            .headers()
            .get_all(CONTENT_LENGTH)
            .iter()
            .any(|v| v.as_bytes() != b"0")
}

/// The answer to `req`.
pub async fn answer<B>(req: &Request<B>, shared: &Arc<Shared>) -> Answer {
    let target = escape(
        req.uri()
            .path_and_query()
            .map_or("", |p| p.as_str())
            .as_bytes(),
    );
    if req.method() != Method::GET {
        let mut a = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "{} {target}: only GET",
                escape(req.method().as_str().as_bytes())
            ),
        );
        a.response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET"));
        return a;
    }
    if has_body(req) {
        return plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("GET {target}: a request body is refused"),
        );
    }
    let not_found = |why: &str| plain(StatusCode::NOT_FOUND, format!("GET {target}: {why}"));
    match req.uri().path() {
        "/v1/key" => match &shared.keys.verifying {
            Some(k) => ok(
                Body::text(format!("{}\n", homeostat_core::digest::Hex(k.as_bytes()))),
                "text/plain; charset=utf-8",
            ),
            None => not_found("no key configured ([database] key or public_key)"),
        },
        "/v1/files.db" => match open(&shared.database()).await {
            Ok(body) => ok(body, "application/octet-stream"),
            Err(why) => not_found(&why),
        },
        "/v1/journal" => match open(&shared.journal()).await {
            Ok(body) => ok(body, "application/jsonl"),
            Err(why) => not_found(&why),
        },
        "/v1/file" => {
            let query = req.uri().query().map(str::to_owned);
            let s = shared.clone();
            let opened =
                tokio::task::spawn_blocking(move || file::open_matching(&s, query.as_deref()))
                    .await;
            match opened {
                Ok(Ok(m)) => ok(
                    Body::file(tokio::fs::File::from_std(m.file), m.len),
                    "application/octet-stream",
                ),
                Ok(Err(Refused::BadRequest(why))) => {
                    plain(StatusCode::BAD_REQUEST, format!("GET /v1/file: {why}"))
                }
                Ok(Err(Refused::NotServed(why))) => {
                    plain(StatusCode::NOT_FOUND, format!("GET /v1/file: {why}"))
                }
                Err(e) => not_found(&format!("the file check failed: {e}")),
            }
        }
        _ => not_found("no such route"),
    }
}

/// A file of the state directory as a streamed body of the length it has now; never
/// through a symlink planted at its name (its target would be served to the neighbours).
async fn open(path: &Path) -> Result<Body, String> {
    let f = tokio::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .await
        .map_err(|e| crate::state_file::refused(path, e))
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let len = f
        .metadata()
        .await
        .map_err(|e| format!("cannot stat {}: {e}", path.display()))?
        .len();
    Ok(Body::file(f, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::peers::PeerSettings;
    use crate::files::signing::Keys;

    fn shared(state: &Path) -> Arc<Shared> {
        Arc::new(Shared {
            state: state.to_owned(),
            keys: Keys::default(),
            roots: vec![b"/nonexistent-tree".to_vec()],
            settings: PeerSettings::default(),
        })
    }

    fn req(method: Method, uri: &str, headers: &[(&'static str, &str)]) -> Request<()> {
        let mut b = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    fn status(a: &Answer) -> u16 {
        a.response.status().as_u16()
    }

    /// A symlink planted as `files.db` is not served: its target stays private.
    #[tokio::test]
    async fn a_symlinked_database_is_not_served() {
        let d = tempfile::tempdir().unwrap();
        let secret = d.path().join("secret");
        std::fs::write(&secret, b"not a database").unwrap();
        std::os::unix::fs::symlink(&secret, d.path().join("files.db")).unwrap();
        let a = answer(&req(Method::GET, "/v1/files.db", &[]), &shared(d.path())).await;
        assert_ne!(status(&a), 200);
    }

    #[tokio::test]
    async fn methods_bodies_and_routes() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("files.db"), b"db bytes").unwrap();
        let s = shared(d.path());
        let a = answer(&req(Method::GET, "/v1/files.db", &[]), &s).await;
        assert_eq!(status(&a), 200);
        assert!(a.refusal.is_none());
        for (m, uri, h, want) in [
            (Method::POST, "/v1/files.db", vec![], 405),
            (Method::HEAD, "/v1/files.db", vec![], 405),
            (
                Method::GET,
                "/v1/files.db",
                vec![("content-length", "5")],
                413,
            ),
            (
                Method::GET,
                "/v1/files.db",
                vec![("content-length", "0")],
                200,
            ),
            (
                Method::GET,
                "/v1/files.db",
                vec![("transfer-encoding", "chunked")],
                413,
            ),
            (Method::GET, "/v1/key", vec![], 404),
            (Method::GET, "/v1/journal", vec![], 404),
            (Method::GET, "/v1/files.db/", vec![], 404),
            (Method::GET, "/", vec![], 404),
            (Method::GET, "/v1/file?path=%2Fetc%2Fpasswd", vec![], 404),
            (Method::GET, "/v1/file?path=%zz", vec![], 400),
            (
                Method::GET,
                "/v1/file?path=%2Fnonexistent-tree%2F..%2Fetc",
                vec![],
                404,
            ),
        ] {
            let a = answer(&req(m.clone(), uri, &h), &s).await;
            assert_eq!(status(&a), want, "{m} {uri} {h:?}");
            assert_eq!(a.refusal.is_some(), want != 200, "{m} {uri}");
        }
        let a = answer(&req(Method::POST, "/v1/key", &[]), &s).await;
        assert_eq!(a.response.headers()[ALLOW], "GET");
    }
}
