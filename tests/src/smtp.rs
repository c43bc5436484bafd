//! A small SMTP server for end-to-end tests, written here rather than taken
//! from a crate: plain text, no TLS, no AUTH, on a pre-bound
//! `127.0.0.1:0` listener. It speaks the RFC 5321 minimum (EHLO/HELO, MAIL
//! FROM, RCPT TO, DATA with dot-unstuffing, RSET, NOOP, VRFY, QUIT), takes
//! several messages per connection, and hands every accepted message to
//! the test through a channel. [`ReceivedMail`] decodes the subject
//! (RFC 2047) and the body (quoted-printable or base64) for assertions.

use base64::Engine as _;
use std::time::Duration;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    sync::mpsc,
    task::{JoinHandle, JoinSet},
};

/// How long [`SmtpServer::recv`] waits before failing the test.
const RECV_TIMEOUT: Duration = Duration::from_secs(10);

/// The name the server gives itself in its replies.
const SERVER_NAME: &str = "p06-test-smtp";

/// One message the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`), without angle brackets.
    pub from: String,
    /// The envelope recipients (`RCPT TO`), without angle brackets.
    pub to: Vec<String>,
    /// The raw message after dot-unstuffing, lines ending in CRLF.
    pub data: String,
}

/// A running test SMTP server; stops (with its connections) when dropped.
#[derive(Debug)]
pub struct SmtpServer {
    port: u16,
    received: mpsc::UnboundedReceiver<ReceivedMail>,
    task: JoinHandle<()>,
}

/// How the server answers, for failure tests.
#[derive(Debug, Clone, Copy, Default)]
struct Behaviour {
    /// Answer every `RCPT TO` with this code instead of 250.
    reject_recipients: Option<u16>,
}

impl SmtpServer {
    /// Binds `127.0.0.1:0` and starts serving; accepts every message.
    pub async fn start() -> SmtpServer {
        Self::start_with(Behaviour::default()).await
    }

    /// A server that answers every `RCPT TO` with `code` (e.g. 550 or
    /// 450), so no message is ever accepted.
    pub async fn start_rejecting_recipients(code: u16) -> SmtpServer {
        Self::start_with(Behaviour {
            reject_recipients: Some(code),
        })
        .await
    }

    async fn start_with(behaviour: Behaviour) -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the test smtp server");
        let port = listener.local_addr().expect("smtp server address").port();
        let (sender, received) = mpsc::unbounded_channel();
        let task = tokio::spawn(accept_loop(listener, sender, behaviour));
        SmtpServer {
            port,
            received,
            task,
        }
    }

    /// The port the server listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The next accepted message; panics when none comes within 10 s.
    pub async fn recv(&mut self) -> ReceivedMail {
        match tokio::time::timeout(RECV_TIMEOUT, self.received.recv()).await {
            Ok(Some(mail)) => mail,
            Ok(None) => panic!("the test smtp server stopped"),
            Err(_) => panic!("no message reached the test smtp server within {RECV_TIMEOUT:?}"),
        }
    }

    /// The next accepted message if one is already waiting.
    pub fn try_recv(&mut self) -> Option<ReceivedMail> {
        self.received.try_recv().ok()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves each connection on its own task; aborting this task drops the
/// set and so ends every connection too.
async fn accept_loop(
    listener: TcpListener,
    sender: mpsc::UnboundedSender<ReceivedMail>,
    behaviour: Behaviour,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve(stream, sender.clone(), behaviour));
                }
                // E.g. out of descriptors: wait rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// The state of one SMTP session.
#[derive(Debug, Default)]
struct Session {
    greeted: bool,
    from: Option<String>,
    to: Vec<String>,
}

impl Session {
    fn reset(&mut self) {
        self.from = None;
        self.to.clear();
    }
}

/// What to do after answering a command.
enum Next {
    Continue,
    ReadData,
    Close,
}

async fn serve(
    stream: TcpStream,
    sender: mpsc::UnboundedSender<ReceivedMail>,
    behaviour: Behaviour,
) {
    // Any I/O error just ends the session, as a dropped connection would.
    let _ = converse(stream, &sender, behaviour).await;
}

async fn converse(
    stream: TcpStream,
    sender: &mpsc::UnboundedSender<ReceivedMail>,
    behaviour: Behaviour,
) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut session = Session::default();
    writer
        .write_all(format!("220 {SERVER_NAME} ESMTP ready\r\n").as_bytes())
        .await?;
    while let Some(line) = read_line(&mut reader).await? {
        let (reply, next) = command(&mut session, &line, behaviour);
        writer.write_all(reply.as_bytes()).await?;
        match next {
            Next::Continue => {}
            Next::Close => break,
            Next::ReadData => {
                let Some(data) = read_data(&mut reader).await? else {
                    break;
                };
                let mail = ReceivedMail {
                    from: session.from.take().unwrap_or_default(),
                    to: std::mem::take(&mut session.to),
                    data,
                };
                let _ = sender.send(mail);
                writer.write_all(b"250 2.0.0 OK: queued\r\n").await?;
            }
        }
    }
    writer.shutdown().await
}

/// One line without its CRLF (a bare LF is taken too); `None` at EOF.
async fn read_line<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> std::io::Result<Option<String>> {
    let mut bytes = Vec::new();
    if reader.read_until(b'\n', &mut bytes).await? == 0 {
        return Ok(None);
    }
    while matches!(bytes.last(), Some(b'\n' | b'\r')) {
        bytes.pop();
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// The message after `354`, up to the line holding a single `.`, with the
/// leading dot of every other dot-led line removed (RFC 5321 §4.5.2);
/// `None` when the connection ends first.
async fn read_data<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> std::io::Result<Option<String>> {
    let mut data = String::new();
    while let Some(line) = read_line(reader).await? {
        if line == "." {
            return Ok(Some(data));
        }
        data.push_str(line.strip_prefix('.').unwrap_or(&line));
        data.push_str("\r\n");
    }
    Ok(None)
}

/// The reply to one command line and what follows it.
fn command(session: &mut Session, line: &str, behaviour: Behaviour) -> (String, Next) {
    let (verb, argument) = match line.split_once(' ') {
        Some((verb, argument)) => (verb, argument.trim()),
        None => (line, ""),
    };
    let reply = |text: &str| (format!("{text}\r\n"), Next::Continue);
    match verb.to_ascii_uppercase().as_str() {
        "EHLO" | "HELO" if argument.is_empty() => reply("501 5.5.4 a domain is required"),
        "EHLO" => {
            session.greeted = true;
            session.reset();
            reply(&format!(
                "250-{SERVER_NAME} greets {argument}\r\n250-8BITMIME\r\n250 SMTPUTF8"
            ))
        }
        "HELO" => {
            session.greeted = true;
            session.reset();
            reply(&format!("250 {SERVER_NAME}"))
        }
        "MAIL" => reply(&mail_from(session, argument)),
        "RCPT" => reply(&rcpt_to(session, argument, behaviour)),
        "DATA" => data(session, argument),
        "RSET" => {
            session.reset();
            reply("250 2.0.0 OK")
        }
        "NOOP" => reply("250 2.0.0 OK"),
        "VRFY" => reply("252 2.5.0 cannot VRFY, but will accept the message"),
        "QUIT" => (format!("221 2.0.0 {SERVER_NAME} closing\r\n"), Next::Close),
        "STARTTLS" | "AUTH" | "EXPN" | "HELP" | "TURN" => reply("502 5.5.1 not implemented"),
        _ => reply("500 5.5.2 command not recognised"),
    }
}

fn mail_from(session: &mut Session, argument: &str) -> String {
    if !session.greeted {
        return "503 5.5.1 send EHLO or HELO first".into();
    }
    if session.from.is_some() {
        return "503 5.5.1 nested MAIL command".into();
    }
    match path_after(argument, "FROM:") {
        Some(path) => {
            session.from = Some(path);
            "250 2.1.0 OK".into()
        }
        None => "501 5.5.4 syntax: MAIL FROM:<address>".into(),
    }
}

fn rcpt_to(session: &mut Session, argument: &str, behaviour: Behaviour) -> String {
    if session.from.is_none() {
        return "503 5.5.1 need MAIL before RCPT".into();
    }
    let Some(path) = path_after(argument, "TO:") else {
        return "501 5.5.4 syntax: RCPT TO:<address>".into();
    };
    if path.is_empty() {
        return "501 5.1.3 an empty recipient".into();
    }
    if let Some(code) = behaviour.reject_recipients {
        return format!("{code} recipient <{path}> rejected by the test server");
    }
    session.to.push(path);
    "250 2.1.5 OK".into()
}

fn data(session: &mut Session, argument: &str) -> (String, Next) {
    let reply = |text: &str| (format!("{text}\r\n"), Next::Continue);
    if !argument.is_empty() {
        return reply("501 5.5.4 DATA takes no argument");
    }
    if session.from.is_none() {
        return reply("503 5.5.1 need MAIL before DATA");
    }
    if session.to.is_empty() {
        return reply("554 5.5.1 no valid recipients");
    }
    (
        "354 end data with <CR><LF>.<CR><LF>\r\n".into(),
        Next::ReadData,
    )
}

/// The address in `FROM:<a@b> PARAMS` (`prefix` matched case-insensitively,
/// ESMTP parameters ignored); `None` when it is not there.
fn path_after(argument: &str, prefix: &str) -> Option<String> {
    let head = argument.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = argument[prefix.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_owned())
}

impl ReceivedMail {
    /// The header section, unfolded: one `(name, value)` per field.
    pub fn headers(&self) -> Vec<(String, String)> {
        let head = self.split().0;
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some((_, value)) = fields.last_mut() {
                    value.push_str(line);
                }
            } else if let Some((name, value)) = line.split_once(':') {
                fields.push((name.trim().to_owned(), value.trim_start().to_owned()));
            }
        }
        fields
    }

    /// The first field called `name` (case-insensitive), undecoded.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers()
            .into_iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// The `Subject`, with RFC 2047 encoded words decoded.
    pub fn subject(&self) -> String {
        decode_words(&self.header("Subject").unwrap_or_default())
    }

    /// The `Message-ID` header, angle brackets included.
    pub fn message_id(&self) -> Option<String> {
        self.header("Message-ID")
            .map(|value| value.trim().to_owned())
    }

    /// The body decoded from its `Content-Transfer-Encoding` and read as
    /// UTF-8, with CRLF line breaks turned into `\n`. The CRLF that ends
    /// the last line on the wire (SMTP always sends one before the final
    /// `.`) is not part of the text.
    pub fn text(&self) -> String {
        let body = self.split().1;
        let body = body.strip_suffix("\r\n").unwrap_or(body);
        let encoding = self
            .header("Content-Transfer-Encoding")
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let bytes = match encoding.as_str() {
            "quoted-printable" => decode_quoted_printable(body),
            "base64" => decode_base64(body),
            _ => body.as_bytes().to_vec(),
        };
        String::from_utf8_lossy(&bytes).replace("\r\n", "\n")
    }

    /// The header section and the body, split at the first empty line.
    fn split(&self) -> (&str, &str) {
        self.data
            .split_once("\r\n\r\n")
            .unwrap_or((self.data.as_str(), ""))
    }
}

fn decode_base64(text: &str) -> Vec<u8> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .unwrap_or_else(|e| panic!("the body is not valid base64: {e}"))
}

/// RFC 2045 §6.7: `=XX` is a byte, a trailing `=` a soft line break, and
/// trailing white space on a line is not part of the text.
fn decode_quoted_printable(text: &str) -> Vec<u8> {
    let lines: Vec<&str> = text.split("\r\n").collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let line = line.trim_end_matches([' ', '\t']);
        match line.strip_suffix('=') {
            Some(soft) => unescape_hex(soft, &mut out),
            None => {
                unescape_hex(line, &mut out);
                if i + 1 < lines.len() {
                    out.extend_from_slice(b"\r\n");
                }
            }
        }
    }
    out
}

/// Copies `text` into `out` with every `=XX` turned into its byte (a stray
/// `=` is kept as it is).
fn unescape_hex(text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'=')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
}

/// RFC 2047: every `=?charset?B|Q?text?=` decoded (charset taken as
/// UTF-8); white space between two encoded words is dropped, and the bytes
/// of adjacent words are joined before decoding, so a character split
/// across two words survives.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut rest = value;
    while let Some((start, end, bytes)) = next_encoded_word(rest) {
        let between = &rest[..start];
        if pending.is_empty() || !between.trim().is_empty() {
            out.push_str(&String::from_utf8_lossy(&std::mem::take(&mut pending)));
            out.push_str(between);
        }
        pending.extend(bytes);
        rest = &rest[end..];
    }
    out.push_str(&String::from_utf8_lossy(&pending));
    out.push_str(rest);
    out
}

/// The first well-formed encoded word in `text`: its start, its end and
/// its decoded bytes.
fn next_encoded_word(text: &str) -> Option<(usize, usize, Vec<u8>)> {
    let mut from = 0;
    while let Some(found) = text[from..].find("=?") {
        let start = from + found;
        if let Some((length, bytes)) = encoded_word_at(&text[start..]) {
            return Some((start, start + length, bytes));
        }
        from = start + 2;
    }
    None
}

/// Parses `=?charset?enc?text?=` at the start of `text`: its length and
/// its bytes.
fn encoded_word_at(text: &str) -> Option<(usize, Vec<u8>)> {
    let inner = text.strip_prefix("=?")?;
    let (charset, inner) = inner.split_once('?')?;
    let (encoding, inner) = inner.split_once('?')?;
    let end = inner.find("?=")?;
    let payload = &inner[..end];
    if charset.is_empty() || payload.contains(char::is_whitespace) {
        return None;
    }
    let bytes = match encoding {
        "B" | "b" => base64::engine::general_purpose::STANDARD
            .decode(payload)
            .ok()?,
        "Q" | "q" => {
            let mut out = Vec::new();
            unescape_hex(&payload.replace('_', " "), &mut out);
            out
        }
        _ => return None,
    };
    let length = 2 + charset.len() + 1 + encoding.len() + 1 + end + 2;
    Some((length, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use p06_notifications::delivery::email::{EmailSender, SmtpConfig, SmtpTls};
    use tokio::io::AsyncReadExt;

    const SUBJECT: &str = "Nhắc hạn: nhiệm vụ “Báo cáo quý III” còn 2 ngày làm việc";
    const BODY: &str = "Kính gửi đồng chí,\n\nNhắc hạn: nhiệm vụ “Báo cáo quý III” \
        còn 2 ngày làm việc (hạn 15/10/2025).\n.dòng bắt đầu bằng dấu chấm\nTrân trọng.";

    fn sender(port: u16) -> EmailSender {
        EmailSender::new(&SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            tls: SmtpTls::None,
            from: "p06 <noreply@p06.gov.vn>".into(),
            timeout_secs: 5,
            ..SmtpConfig::default()
        })
        .expect("sender")
    }

    fn to(addresses: &[&str]) -> Vec<String> {
        addresses.iter().map(|a| a.to_string()).collect()
    }

    #[tokio::test]
    async fn delivers_vietnamese_subject_and_body_with_message_id() {
        let mut server = SmtpServer::start().await;
        let outcome = sender(server.port())
            .send(
                &to(&["canbo@ubnd.example.vn", "Văn thư <vanthu@ubnd.example.vn>"]),
                SUBJECT,
                BODY,
                "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            )
            .await;
        assert!(outcome.success, "{outcome:?}");
        assert_eq!(outcome.response_code, Some(250));
        assert!(outcome.error.is_empty());
        let mail = server.recv().await;
        assert_eq!(mail.from, "noreply@p06.gov.vn");
        assert_eq!(
            mail.to,
            to(&["canbo@ubnd.example.vn", "vanthu@ubnd.example.vn"])
        );
        assert_eq!(mail.subject(), SUBJECT);
        assert_eq!(mail.text(), BODY);
        assert_eq!(
            mail.message_id().as_deref(),
            Some("<0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b@p06>")
        );
        assert!(mail.data.is_ascii(), "lettre encodes for 7-bit transport");
        let encoding = mail.header("Content-Transfer-Encoding");
        assert!(
            matches!(encoding.as_deref(), Some("quoted-printable" | "base64")),
            "{encoding:?}"
        );
    }

    #[tokio::test]
    async fn the_same_notification_keeps_its_message_id() {
        let mut server = SmtpServer::start().await;
        let sender = sender(server.port());
        for attempt in ["lần 1", "lần 2"] {
            let outcome = sender
                .send(&to(&["a@example.vn"]), attempt, BODY, "n-42")
                .await;
            assert!(outcome.success, "{outcome:?}");
        }
        let first = server.recv().await;
        let second = server.recv().await;
        assert_eq!(first.subject(), "lần 1");
        assert_eq!(second.subject(), "lần 2");
        assert_eq!(first.message_id().as_deref(), Some("<n-42@p06>"));
        assert_eq!(first.message_id(), second.message_id());
    }

    #[tokio::test]
    async fn rejected_recipient_reports_the_reply_code() {
        let mut server = SmtpServer::start_rejecting_recipients(550).await;
        let outcome = sender(server.port())
            .send(&to(&["x@example.vn"]), "s", "t", "id")
            .await;
        assert!(!outcome.success);
        assert_eq!(outcome.response_code, Some(550));
        assert!(outcome.error.contains("rejected"), "{}", outcome.error);
        assert!(server.try_recv().is_none());
    }

    #[tokio::test]
    async fn server_not_listening_is_a_failed_outcome() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("address").port()
        };
        let outcome = sender(port)
            .send(&to(&["a@example.vn"]), SUBJECT, BODY, "id")
            .await;
        assert!(!outcome.success);
        assert_eq!(outcome.response_code, None);
        assert!(!outcome.error.is_empty());
    }

    #[tokio::test]
    async fn invalid_recipient_is_a_failed_outcome() {
        let mut server = SmtpServer::start().await;
        let outcome = sender(server.port())
            .send(&to(&["a@example.vn", "không phải địa chỉ"]), "s", "t", "id")
            .await;
        assert!(!outcome.success);
        assert!(
            outcome.error.contains("invalid recipient"),
            "{}",
            outcome.error
        );
        assert!(server.try_recv().is_none());
    }

    /// A raw client: sends `lines` (CRLF added) one by one and returns the
    /// reply to each command, the greeting first; lines after a `354` reply
    /// are message text up to the lone `.`.
    async fn converse(port: u16, lines: &[&str]) -> Vec<String> {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let (reader, mut writer) = stream.into_split();
        let mut reader = BufReader::new(reader);
        let mut replies = vec![read_reply(&mut reader).await];
        let mut in_data = false;
        for line in lines {
            writer
                .write_all(format!("{line}\r\n").as_bytes())
                .await
                .expect("write");
            if in_data && *line != "." {
                continue;
            }
            let reply = read_reply(&mut reader).await;
            in_data = reply.starts_with("354");
            replies.push(reply);
        }
        let mut tail = String::new();
        reader.read_to_string(&mut tail).await.expect("eof");
        assert!(tail.is_empty(), "unexpected trailing output {tail:?}");
        replies
    }

    /// One reply, multi-line replies joined with `|`.
    async fn read_reply(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> String {
        let mut lines = Vec::new();
        loop {
            let line = read_line(reader).await.expect("read").expect("a reply");
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines.join("|");
            }
        }
    }

    fn codes(replies: &[String]) -> Vec<&str> {
        replies.iter().map(|r| &r[..3]).collect()
    }

    #[tokio::test]
    async fn two_messages_on_one_connection_with_dot_unstuffing() {
        let mut server = SmtpServer::start().await;
        let replies = converse(
            server.port(),
            &[
                "EHLO client.example",
                "MAIL FROM:<a@example.vn> BODY=8BITMIME",
                "RCPT TO:<b@example.vn>",
                "DATA",
                "Subject: one",
                "",
                "body one",
                "..leading dot",
                ".",
                "MAIL FROM:<a@example.vn>",
                "RCPT TO:<c@example.vn>",
                "RCPT TO:<d@example.vn>",
                "DATA",
                "Subject: two",
                "",
                "body two",
                ".",
                "QUIT",
            ],
        )
        .await;
        assert_eq!(
            codes(&replies),
            [
                "220", "250", "250", "250", "354", "250", "250", "250", "250", "354", "250", "221"
            ]
        );
        assert!(replies[1].contains("250-8BITMIME"), "{}", replies[1]);
        let one = server.recv().await;
        assert_eq!(one.from, "a@example.vn");
        assert_eq!(one.to, ["b@example.vn"]);
        assert_eq!(one.data, "Subject: one\r\n\r\nbody one\r\n.leading dot\r\n");
        assert_eq!(one.subject(), "one");
        let two = server.recv().await;
        assert_eq!(two.to, ["c@example.vn", "d@example.vn"]);
        assert_eq!(two.text(), "body two");
    }

    #[tokio::test]
    async fn out_of_order_commands_get_5xx_and_rset_clears() {
        let mut server = SmtpServer::start().await;
        let replies = converse(
            server.port(),
            &[
                "MAIL FROM:<a@example.vn>",
                "HELO client.example",
                "RCPT TO:<b@example.vn>",
                "DATA",
                "MAIL FROM a@example.vn",
                "MAIL FROM:<>",
                "MAIL FROM:<a@example.vn>",
                "DATA",
                "RSET",
                "RCPT TO:<b@example.vn>",
                "NOOP",
                "VRFY someone",
                "STARTTLS",
                "FROB",
                "QUIT",
            ],
        )
        .await;
        assert_eq!(
            codes(&replies),
            [
                "220", "503", "250", "503", "503", "501", "250", "503", "554", "250", "503", "250",
                "252", "502", "500", "221"
            ]
        );
        assert!(server.try_recv().is_none());
    }

    #[test]
    fn decodes_quoted_printable_and_encoded_words() {
        let mut out = Vec::new();
        unescape_hex("a=3Db=C3=A1=", &mut out);
        assert_eq!(out, "a=bá=".as_bytes());
        assert_eq!(
            decode_quoted_printable("Nh=E1=BA=AFc h=\r\n=E1=BA=A1n  \r\nx"),
            "Nhắc hạn\r\nx".as_bytes()
        );
        // "hạn" split inside "ạ" (E1 BA A1) across two words.
        assert_eq!(
            decode_words("=?utf-8?b?aOG6?=\r\n =?utf-8?b?oW4=?= x"),
            "hạn x"
        );
        assert_eq!(
            decode_words("a =?UTF-8?Q?h=E1=BA=A1n_v=E1=BB=A5?= b"),
            "a hạn vụ b"
        );
        assert_eq!(decode_words("=?bad a =?x"), "=?bad a =?x");
    }
}
