//! The connection below hyper: which address a request arrived on, and JSON
//! bodies on the answers hyper writes by itself.
//!
//! hyper answers some requests before any handler or layer sees them: a
//! request line it cannot parse (400), a URL longer than 65,534 bytes (414;
//! the limit is a constant in hyper and in `http::Uri`, so it cannot be
//! raised) and headers larger than its read buffer (431). Those answers carry
//! no body, then hyper closes the connection. [`JsonAnswers`] sits between
//! hyper and the socket and gives such an answer the JSON error body every
//! other error has. It recognises them by their shape alone (a 4xx or 5xx
//! status line, `content-length: 0`, nothing after the head): the router's
//! own errors always carry a body (see `guard::json_errors`), so only
//! hyper's own answers look like that on the wire.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::extract::connect_info::Connected;
use axum::http::StatusCode;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::error::{ApiError, ErrorBody, ErrorCode};

/// hyper's automatic answers are a status line and two or three short
/// headers; anything longer is not one of them.
const MAX_AUTOMATIC_HEAD: usize = 1024;

/// A TCP listener whose connections know their addresses and whose
/// automatic hyper answers are JSON.
pub struct GuardedListener {
    inner: TcpListener,
    bound: SocketAddr,
}

impl GuardedListener {
    pub fn new(inner: TcpListener) -> io::Result<GuardedListener> {
        let bound = inner.local_addr()?;
        Ok(GuardedListener { inner, bound })
    }
}

impl Listener for GuardedListener {
    type Io = JsonAnswers<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, SocketAddr) {
        // axum's own accept loop: it logs and retries failed accepts.
        let (io, remote) = Listener::accept(&mut self.inner).await;
        // The address this connection reached: with a listener bound to
        // 0.0.0.0 it is the interface the client chose.
        let local = io.local_addr().unwrap_or(self.bound);
        let arrival = Arrival {
            bound: self.bound,
            local,
            remote,
        };
        (JsonAnswers::new(io, arrival), remote)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.bound)
    }
}

/// Where a request came from and to: a request extension
/// (`ConnectInfo<Arrival>`) for the host check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// The address the listener is bound to (may be 0.0.0.0 or `[::]`).
    pub bound: SocketAddr,
    /// The address this connection arrived on.
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

impl Connected<IncomingStream<'_, GuardedListener>> for Arrival {
    fn connect_info(stream: IncomingStream<'_, GuardedListener>) -> Self {
        stream.io().arrival
    }
}

/// A connection whose bodiless 4xx/5xx answers are rewritten with the JSON
/// error body (see the module documentation).
pub struct JsonAnswers<T> {
    inner: T,
    arrival: Arrival,
    /// A rewritten answer not yet written to `inner`, and how much of it is.
    pending: Vec<u8>,
    sent: usize,
}

impl<T> JsonAnswers<T> {
    pub fn new(inner: T, arrival: Arrival) -> JsonAnswers<T> {
        JsonAnswers {
            inner,
            arrival,
            pending: Vec::new(),
            sent: 0,
        }
    }
}

impl<T: AsyncWrite + Unpin> JsonAnswers<T> {
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        if !self.pending.is_empty() {
            self.pending = Vec::new();
            self.sent = 0;
        }
        Poll::Ready(Ok(()))
    }

    /// Takes `buf` as written when it is an automatic answer: its JSON
    /// version goes out instead, on the next write, flush or shutdown.
    fn take_automatic(&mut self, buf: &[u8]) -> bool {
        match with_json_body(buf) {
            Some(answer) => {
                self.pending = answer;
                self.sent = 0;
                true
            }
            None => false,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonAnswers<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonAnswers<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_drain(cx))?;
        if this.take_automatic(buf) {
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_drain(cx))?;
        // An automatic answer is a head alone, so one buffer.
        let mut filled = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(only), None) = (filled.next(), filled.next()) {
            if this.take_automatic(only) {
                return Poll::Ready(Ok(only.len()));
            }
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// `head` with the JSON error body, when it is a complete HTTP/1 response
/// head with a 4xx/5xx status, `content-length: 0` and nothing after it.
pub fn with_json_body(head: &[u8]) -> Option<Vec<u8>> {
    if head.len() > MAX_AUTOMATIC_HEAD {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let lines = text.strip_suffix("\r\n\r\n")?;
    if lines.contains("\r\n\r\n") {
        return None;
    }
    let mut lines = lines.split("\r\n");
    let status_line = lines.next()?;
    let rest = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))?;
    let status = StatusCode::from_bytes(rest.get(..3)?.as_bytes()).ok()?;
    if !(status.is_client_error() || status.is_server_error()) {
        return None;
    }
    let mut headers = Vec::new();
    let mut empty = false;
    let mut closes = false;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") {
            empty = value.trim() == "0";
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("content-type")
        {
            return None;
        } else {
            closes |= name.eq_ignore_ascii_case("connection") && value.trim() == "close";
            headers.push(line);
        }
    }
    if !empty {
        return None;
    }
    let error = automatic_error(status);
    let body = serde_json::to_vec(&ErrorBody {
        error: &error.message,
        code: error.code,
    })
    .ok()?;
    let mut out = Vec::with_capacity(head.len() + body.len() + 96);
    out.extend_from_slice(status_line.as_bytes());
    out.extend_from_slice(b"\r\n");
    for h in headers {
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"content-type: application/json\r\n");
    out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    // hyper closes the connection after an automatic answer.
    if !closes {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    Some(out)
}

/// The error for one of hyper's own answers, saying what the client can do.
fn automatic_error(status: StatusCode) -> ApiError {
    match status {
        StatusCode::URI_TOO_LONG => ApiError::new(
            status,
            ErrorCode::UriTooLong,
            "the URL is longer than the server reads (65,534 bytes); a search query is at most \
             2,000 characters, and longer text goes in a request body (POST /api/similar)",
        ),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ApiError::new(
            status,
            ErrorCode::HeadersTooLarge,
            "the request headers are larger than the server reads",
        ),
        StatusCode::BAD_REQUEST => ApiError::new(
            status,
            ErrorCode::MalformedRequest,
            "the request could not be read as HTTP/1.1 (malformed request line or header)",
        ),
        s => ApiError::for_status(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(answer: &[u8]) -> (String, serde_json::Value) {
        let text = std::str::from_utf8(answer).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let declared: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(declared, body.len(), "{text}");
        (head.to_string(), serde_json::from_str(body).unwrap())
    }

    #[test]
    fn bodiless_error_heads_get_the_json_body() {
        let head = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: Sat, 28 Nov 2026 14:00:00 GMT\r\n\r\n";
        let (h, body) = parts(&with_json_body(head).unwrap());
        assert!(h.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{h}");
        assert!(h.contains("date: Sat, 28 Nov 2026"), "{h}");
        assert!(h.contains("content-type: application/json"), "{h}");
        assert_eq!(h.matches("connection: close").count(), 1, "{h}");
        let head = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        let (h, _) = parts(&with_json_body(head).unwrap());
        assert_eq!(h.matches("connection: close").count(), 1, "{h}");
        assert_eq!(body["code"], "uri_too_long");
        let (_, body) = parts(
            &with_json_body(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n").unwrap(),
        );
        assert_eq!(body["code"], "malformed_request");
        let (_, body) = parts(
            &with_json_body(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n",
            )
            .unwrap(),
        );
        assert_eq!(body["code"], "headers_too_large");
    }

    #[test]
    fn everything_else_passes_unchanged() {
        for bytes in [
            // success, a body, a declared body, chunked, a typed empty body
            &b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n{}",
            b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 47\r\n\r\n",
            b"HTTP/1.1 500 Internal Server Error\r\ntransfer-encoding: chunked\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ncontent-length: 0\r\n\r\n",
            // a head without its length, a partial head, body bytes, binary
            b"HTTP/1.1 400 Bad Request\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
            b"{\"error\":\"x\",\"code\":\"y\"}",
            b"\xff\xfe\r\n\r\n",
        ] {
            assert!(with_json_body(bytes).is_none(), "{:?}", String::from_utf8_lossy(bytes));
        }
        let long = format!(
            "HTTP/1.1 400 Bad Request\r\nx: {}\r\ncontent-length: 0\r\n\r\n",
            "a".repeat(MAX_AUTOMATIC_HEAD)
        );
        assert!(with_json_body(long.as_bytes()).is_none());
    }
}
