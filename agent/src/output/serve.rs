//! `GET /metrics` for `run`: a small HTTP/1.1 server (hyper) on the daemon's tokio runtime,
//! answering with the text the last round rendered. Anything but `/metrics` is 404; a
//! method other than GET or HEAD on it is 405.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// The content type of the text exposition format.
pub const CONTENT_TYPE_004: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The answer to one request.
pub fn respond<B>(req: &Request<B>, text: &Mutex<Bytes>) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, body: Bytes| {
        let mut r = Response::new(Full::new(body));
        *r.status_mut() = status;
        r
    };
    if req.uri().path() != "/metrics" {
        return reply(StatusCode::NOT_FOUND, Bytes::from_static(b"not found\n"));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = reply(
            StatusCode::METHOD_NOT_ALLOWED,
            Bytes::from_static(b"method not allowed\n"),
        );
        r.headers_mut()
            .insert(ALLOW, hyper::header::HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let body = text.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut r = reply(StatusCode::OK, body);
    r.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(CONTENT_TYPE_004),
    );
    r
}

/// Serves `/metrics` on `listener` until the runtime stops.
pub async fn serve(listener: tokio::net::TcpListener, text: Arc<Mutex<Bytes>>) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            // Out of descriptors or a connection reset before accept: try the next one.
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let text = text.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                let r = respond(&req, &text);
                async move { Ok::<_, Infallible>(r) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(method: Method, path: &str) -> Request<()> {
        Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .unwrap()
    }

    #[test]
    fn metrics_or_not_found() {
        let text = Mutex::new(Bytes::from_static(b"x 1\n"));
        let r = respond(&get(Method::GET, "/metrics"), &text);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CONTENT_TYPE], CONTENT_TYPE_004);
        assert_eq!(
            respond(&get(Method::GET, "/"), &text).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            respond(&get(Method::GET, "/metrics/x"), &text).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            respond(&get(Method::POST, "/metrics"), &text).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
}
