//! A tiny SMTP server on 127.0.0.1 that accepts every message and keeps it, so tests see
//! exactly what Leadsment sent through lettre.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Clone, Default)]
pub struct MailSink {
    pub addr: Option<SocketAddr>,
    messages: Arc<Mutex<Vec<Message>>>,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub to: Vec<String>,
    /// Headers and body, with quoted-printable soft line breaks and `=3D` undone.
    pub data: String,
}

impl Message {
    /// The first link in the message to `path` (such as `/auth/verify`).
    pub fn link(&self, path: &str) -> Option<String> {
        let i = self.data.find(path)?;
        let start = self.data[..i].rfind("http")?;
        let end = self.data[start..]
            .find(|c: char| c.is_whitespace())
            .map(|e| start + e)
            .unwrap_or(self.data.len());
        Some(self.data[start..end].to_owned())
    }

    /// The path and query of [`Message::link`].
    pub fn link_path(&self, path: &str) -> Option<String> {
        let link = self.link(path)?;
        let u = url::Url::parse(&link).ok()?;
        Some(match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        })
    }
}

impl MailSink {
    pub async fn start() -> MailSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = MailSink {
            addr: Some(listener.local_addr().unwrap()),
            messages: Arc::default(),
        };
        let store = sink.messages.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let (r, mut w) = sock.into_split();
                    let mut lines = BufReader::new(r);
                    let _ = w.write_all(b"220 sink ESMTP\r\n").await;
                    let mut to = Vec::new();
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                            break;
                        }
                        let cmd = line.trim_end().to_ascii_uppercase();
                        let reply: &[u8] = if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
                            b"250 sink\r\n"
                        } else if cmd.starts_with("RCPT TO:") {
                            to.push(
                                line.trim_end()[8..]
                                    .trim_matches(|c| c == '<' || c == '>' || c == ' ')
                                    .to_owned(),
                            );
                            b"250 OK\r\n"
                        } else if cmd == "DATA" {
                            let _ = w.write_all(b"354 go ahead\r\n").await;
                            let mut data = String::new();
                            loop {
                                line.clear();
                                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                                    return;
                                }
                                if line == ".\r\n" {
                                    break;
                                }
                                data.push_str(&line);
                            }
                            let data = data.replace("=\r\n", "").replace("=3D", "=");
                            store.lock().unwrap().push(Message {
                                to: std::mem::take(&mut to),
                                data,
                            });
                            b"250 OK queued\r\n"
                        } else if cmd == "QUIT" {
                            let _ = w.write_all(b"221 bye\r\n").await;
                            break;
                        } else {
                            b"250 OK\r\n"
                        };
                        if w.write_all(reply).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        sink
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr.unwrap())
    }

    pub fn messages(&self) -> Vec<Message> {
        self.messages.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) for a message to `to` whose data contains `needle`.
    pub async fn wait_for(&self, to: &str, needle: &str) -> Message {
        for _ in 0..200 {
            if let Some(m) = self
                .messages()
                .into_iter()
                .rev()
                .find(|m| m.to.iter().any(|t| t == to) && m.data.contains(needle))
            {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no email to {to} containing {needle:?}; got {:#?}",
            self.messages()
        );
    }

    /// How many messages went to `to`.
    pub fn count_to(&self, to: &str) -> usize {
        self.messages()
            .iter()
            .filter(|m| m.to.iter().any(|t| t == to))
            .count()
    }
}
