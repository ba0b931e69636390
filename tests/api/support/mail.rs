//! A fake SMTP server that keeps what it is sent, and just enough MIME to read it back.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// A minimal SMTP server: answers 220/250/354/221 and keeps each DATA block.
pub fn start_smtp(port: u16) -> Arc<Mutex<Vec<String>>> {
    start_smtp_calling(port, || {})
}

/// [`start_smtp`] that calls `accepted` after keeping each message and before answering 250
/// (a fault injected between the server's acceptance and the sender learning of it).
pub fn start_smtp_calling(
    port: u16,
    accepted: impl Fn() + Send + Sync + 'static,
) -> Arc<Mutex<Vec<String>>> {
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind smtp port");
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let accepted: Arc<dyn Fn() + Send + Sync> = Arc::new(accepted);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            let (g, accepted) = (g.clone(), accepted.clone());
            std::thread::spawn(move || {
                let _ = smtp_session(stream, &g, &*accepted);
            });
        }
    });
    got
}

fn smtp_session(
    stream: TcpStream,
    got: &Mutex<Vec<String>>,
    accepted: &dyn Fn(),
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(20)))?;
    let mut w = stream.try_clone()?;
    let mut r = BufReader::new(stream);
    w.write_all(b"220 mx.landx.test ESMTP\r\n")?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let cmd = String::from_utf8_lossy(&line)
            .trim_end()
            .to_ascii_uppercase();
        if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
            w.write_all(b"250 mx.landx.test\r\n")?;
        } else if cmd == "DATA" {
            w.write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")?;
            let mut data = Vec::new();
            loop {
                line.clear();
                if r.read_until(b'\n', &mut line)? == 0 {
                    return Ok(());
                }
                let l = line.strip_suffix(b"\n").unwrap_or(&line);
                let l = l.strip_suffix(b"\r").unwrap_or(l);
                if l == b"." {
                    break;
                }
                // Undo dot-stuffing.
                let l = l.strip_prefix(b".").unwrap_or(l);
                data.extend_from_slice(l);
                data.extend_from_slice(b"\r\n");
            }
            got.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&data).into_owned());
            accepted();
            w.write_all(b"250 2.0.0 queued\r\n")?;
        } else if cmd == "QUIT" {
            w.write_all(b"221 2.0.0 bye\r\n")?;
            return Ok(());
        } else {
            w.write_all(b"250 2.0.0 ok\r\n")?;
        }
    }
}

/// Headers (unfolded) and the body of a message.
pub fn parse_message(raw: &str) -> (Vec<(String, String)>, String) {
    let (head, body) = raw.split_once("\r\n\r\n").expect("header/body separator");
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    let headers = unfolded
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (headers, body.to_string())
}

pub fn mail_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn hex_byte(h: &[u8]) -> Option<u8> {
    u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
}

/// Decodes RFC 2047 encoded-words (`=?charset?B|Q?text?=`); whitespace between adjacent
/// encoded words is dropped.
pub fn decode_rfc2047(s: &str) -> String {
    let mut out: Vec<u8> = Vec::new();
    let mut rest = s;
    let mut prev_encoded = false;
    while let Some(start) = rest.find("=?") {
        let before = &rest[..start];
        let word = &rest[start + 2..];
        let mut parts = word.splitn(3, '?');
        let (Some(_charset), Some(enc), Some(tail)) = (parts.next(), parts.next(), parts.next())
        else {
            break;
        };
        let Some(end) = tail.find("?=") else { break };
        let text = &tail[..end];
        if !(prev_encoded && before.trim().is_empty()) {
            out.extend_from_slice(before.as_bytes());
        }
        match enc.to_ascii_uppercase().as_str() {
            "B" => out.extend(STANDARD.decode(text).expect("base64 encoded-word")),
            "Q" => {
                let b = text.as_bytes();
                let mut i = 0;
                while i < b.len() {
                    match b[i] {
                        b'_' => out.push(b' '),
                        b'=' if i + 2 < b.len() => {
                            out.push(hex_byte(&b[i + 1..i + 3]).expect("Q hex"));
                            i += 2;
                        }
                        c => out.push(c),
                    }
                    i += 1;
                }
            }
            other => panic!("unknown encoding {other}"),
        }
        prev_encoded = true;
        rest = &tail[end + 2..];
    }
    out.extend_from_slice(rest.as_bytes());
    String::from_utf8(out).expect("utf-8 subject")
}

pub fn decode_body(headers: &[(String, String)], body: &str) -> String {
    let cte = mail_header(headers, "content-transfer-encoding")
        .unwrap_or("7bit")
        .to_ascii_lowercase();
    match cte.as_str() {
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            String::from_utf8(STANDARD.decode(compact).expect("base64 body")).unwrap()
        }
        "quoted-printable" => {
            let joined = body.replace("=\r\n", "");
            let b = joined.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'=' && i + 2 < b.len() {
                    out.push(hex_byte(&b[i + 1..i + 3]).expect("QP hex"));
                    i += 3;
                } else {
                    out.push(b[i]);
                    i += 1;
                }
            }
            String::from_utf8(out).unwrap()
        }
        _ => body.to_string(),
    }
}
