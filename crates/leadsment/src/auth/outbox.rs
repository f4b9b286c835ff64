//! The way out for every email: one bounded queue, drained by a few workers, and a cap on how
//! many messages one address receives in an hour.
//!
//! Nothing a visitor does can make the server hold more than `mail_queue` messages, nor send
//! one address more than `mails_per_address_per_hour` (default 3) in any hour: a full queue
//! and a full address both drop the message, count it on `/metrics`
//! (`leadsment_mail_dropped_total`) and change nothing in the answer, so neither says whether
//! an account exists. The per-address count is kept in memory under a keyed hash of the
//! address, per node: with several nodes, an address may receive that many from each.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use prometheus::{IntCounterVec, Opts, Registry};
use tokio::sync::mpsc::{self, error::TrySendError};

use super::mail::{Email, Job, Mailer};
use super::tokens::Keys;

/// Messages sent at once: a slow mail server holds up this many, not the whole queue.
pub const WORKERS: usize = 4;
/// The window of the per-address cap.
const WINDOW: Duration = Duration::from_secs(3600);

/// Notices an address receives at most in [`WINDOW`] (within its cap).
pub const NOTICES_PER_WINDOW: usize = 1;

/// What a message gives its reader: a way in to their account (a reset or sign-in link, a
/// verification), or only news.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Access,
    Notice,
}

/// The messages an address received in the last [`WINDOW`], oldest first.
type Sent = VecDeque<(Instant, Kind)>;
/// Addresses whose recent messages are remembered; past this, the least used are forgotten
/// (memory stays bounded whatever a crowd of clients asks for).
const REMEMBERED_ADDRESSES: u64 = 100_000;

/// Why a message was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// The queue held `mail_queue` messages already.
    QueueFull,
    /// The address had received its messages for the hour.
    RecipientLimit,
}

impl Dropped {
    pub fn as_str(self) -> &'static str {
        match self {
            Dropped::QueueFull => "queue_full",
            Dropped::RecipientLimit => "recipient_limit",
        }
    }
}

/// Cheap to clone; clones share the queue and the counts.
#[derive(Clone)]
pub struct Outbox(Arc<Inner>);

struct Inner {
    mailer: Mailer,
    jobs: mpsc::Sender<Job>,
    capacity: usize,
    keys: Keys,
    per_address: usize,
    /// When each remembered address (by its keyed hash) was last written to, oldest first.
    recent: moka::sync::Cache<[u8; 32], Arc<Mutex<Sent>>>,
    dropped: IntCounterVec,
}

impl Outbox {
    /// An outbox of `capacity` messages whose workers send through `mailer`; each address
    /// receives at most `per_address` messages an hour. Must run inside the Tokio runtime.
    pub fn start(
        mailer: Mailer,
        keys: Keys,
        capacity: usize,
        per_address: u32,
    ) -> Result<Outbox, prometheus::Error> {
        let (outbox, jobs) = Outbox::unstarted(mailer, keys, capacity, per_address)?;
        let jobs = Arc::new(tokio::sync::Mutex::new(jobs));
        for _ in 0..WORKERS {
            tokio::spawn(work(outbox.0.mailer.clone(), jobs.clone()));
        }
        Ok(outbox)
    }

    /// An outbox and its queue's receiving end, with no worker yet (tests drain it by hand).
    pub fn unstarted(
        mailer: Mailer,
        keys: Keys,
        capacity: usize,
        per_address: u32,
    ) -> Result<(Outbox, mpsc::Receiver<Job>), prometheus::Error> {
        let capacity = capacity.max(1);
        let (tx, rx) = mpsc::channel(capacity);
        let dropped = IntCounterVec::new(
            Opts::new(
                "leadsment_mail_dropped_total",
                "Emails not sent: the queue was full (reason=queue_full), or the address had had its messages for the hour (reason=recipient_limit).",
            ),
            &["reason"],
        )?;
        for reason in [Dropped::QueueFull, Dropped::RecipientLimit] {
            dropped.with_label_values(&[reason.as_str()]);
        }
        let inner = Inner {
            mailer,
            jobs: tx,
            capacity,
            keys,
            per_address: usize::try_from(per_address.max(1)).unwrap_or(usize::MAX),
            recent: moka::sync::Cache::builder()
                .max_capacity(REMEMBERED_ADDRESSES)
                .time_to_idle(WINDOW)
                .build(),
            dropped,
        };
        Ok((Outbox(Arc::new(inner)), rx))
    }

    /// Adds the outbox's metrics to `registry`.
    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.0.dropped.clone()))
    }

    /// Messages dropped so far for `reason`.
    pub fn dropped(&self, reason: Dropped) -> u64 {
        self.0.dropped.with_label_values(&[reason.as_str()]).get()
    }

    /// Whether links are written to the log rather than sent.
    pub fn logs_links(&self) -> bool {
        self.0.mailer.logs_links()
    }

    /// Counts one message to `to` against its hourly cap; false (and nothing counted) when
    /// the address has had its messages. Call it before making a link the message would
    /// carry, so that a refused request leaves the links already sent alone.
    pub fn admit(&self, to: &str) -> bool {
        self.admit_kind(to, Kind::Access)
    }

    /// [`Outbox::admit`] for a notice: a message that gives its reader no way in (someone
    /// tried to sign up with the address, an invitation, an email change). Notices take at
    /// most [`NOTICES_PER_WINDOW`] of an address's messages an hour, so whoever can trigger
    /// them cannot spend the cap that reset and sign-in links need.
    pub fn admit_notice(&self, to: &str) -> bool {
        self.admit_kind(to, Kind::Notice)
    }

    fn admit_kind(&self, to: &str, kind: Kind) -> bool {
        let key = self.0.keys.mail_recipient(&normalised(to));
        let times = self.0.recent.get_with(key, Arc::default);
        let mut times = times.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        while times
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) >= WINDOW)
        {
            times.pop_front();
        }
        let notices = times.iter().filter(|(_, k)| *k == Kind::Notice).count();
        if times.len() >= self.0.per_address
            || (kind == Kind::Notice && notices >= NOTICES_PER_WINDOW)
        {
            self.0
                .dropped
                .with_label_values(&[Dropped::RecipientLimit.as_str()])
                .inc();
            tracing::info!(
                limit = self.0.per_address,
                "an address had had its emails for the hour; one more was not sent"
            );
            return false;
        }
        times.push_back((now, kind));
        true
    }

    /// Puts `job` in the queue, or drops it (logged and counted) when the queue is full. The
    /// caller learns nothing either way: its answer must not depend on it.
    pub fn queue(&self, job: Job) {
        match self.0.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.0
                    .dropped
                    .with_label_values(&[Dropped::QueueFull.as_str()])
                    .inc();
                // Never the address: the log says only that the queue overflowed.
                tracing::warn!(
                    capacity = self.0.capacity,
                    "the mail queue is full; an email was dropped"
                );
            }
            Err(TrySendError::Closed(_)) => {
                tracing::error!("the mail queue is closed; an email was dropped");
            }
        }
    }

    /// Sends `email` in the background if its address is within its hourly cap: how long
    /// the SMTP server takes must not show in the answer.
    pub fn send_later(&self, email: Email) {
        if self.admit(&email.to) {
            self.queue(Job::Send(email));
        }
    }

    /// [`Outbox::send_later`] for a notice ([`Outbox::admit_notice`]).
    pub fn send_notice_later(&self, email: Email) {
        if self.admit_notice(&email.to) {
            self.queue(Job::Send(email));
        }
    }
}

/// The address as the cap counts it: one address however it is capitalised or padded.
fn normalised(address: &str) -> String {
    address.trim().to_lowercase()
}

/// `text` with every email address in it replaced by `<address>`.
fn without_addresses(text: &str) -> String {
    static ADDRESS: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    match ADDRESS
        .get_or_init(|| regex::Regex::new(r"[^\s<>()\[\]:;,\x22]+@[^\s<>()\[\]:;,\x22]+").ok())
    {
        Some(re) => re.replace_all(text, "<address>").into_owned(),
        None => String::from("(the error text is withheld)"),
    }
}

/// One worker: takes the next job and does it, until the outbox is gone.
async fn work(mailer: Mailer, jobs: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>) {
    loop {
        let job = jobs.lock().await.recv().await;
        match job {
            None => return,
            Some(Job::Nothing) => {}
            Some(Job::Send(email)) => {
                if let Err(e) = mailer.send(&email).await {
                    // SMTP servers repeat the recipient in their refusals: not in our logs.
                    let error = without_addresses(&format!("{e:#}"));
                    tracing::error!(%error, subject = %email.subject, "could not send an email");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn email(to: &str) -> Email {
        Email {
            to: to.to_owned(),
            subject: "s".to_owned(),
            body: "b".to_owned(),
            link: None,
        }
    }

    fn keys() -> Keys {
        Keys::derive(b"0123456789abcdef0123456789abcdef")
    }

    /// Log lines, kept for the test to read.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_full_queue_drops_the_message_with_a_warning_and_keeps_nothing_else() {
        let (outbox, mut jobs) = Outbox::unstarted(Mailer::Log, keys(), 2, 100).unwrap();
        let log = Captured::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            outbox.send_later(email("ada@example.com"));
            outbox.queue(Job::Nothing);
            outbox.send_later(email("bob@example.com"));
            outbox.queue(Job::Nothing);
        });
        assert_eq!(outbox.dropped(Dropped::QueueFull), 2);
        let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        assert_eq!(log.matches("the mail queue is full").count(), 2, "{log}");
        assert!(log.contains("WARN"), "{log}");
        assert!(!log.contains("example.com"), "no address in the log: {log}");
        // The queue holds exactly its capacity: the first two, nothing more.
        assert_eq!(
            jobs.try_recv().unwrap().recipient(),
            Some("ada@example.com")
        );
        assert!(matches!(jobs.try_recv().unwrap(), Job::Nothing));
        assert!(jobs.try_recv().is_err());
        // Room again: the next message goes in.
        outbox.send_later(email("carol@example.com"));
        assert_eq!(
            jobs.try_recv().unwrap().recipient(),
            Some("carol@example.com")
        );
    }

    #[test]
    fn an_address_gets_three_messages_an_hour_however_it_is_written() {
        let (outbox, mut jobs) = Outbox::unstarted(Mailer::Log, keys(), 100, 3).unwrap();
        for to in [
            "ada@example.com",
            "ADA@example.com",
            " ada@EXAMPLE.com ",
            "ada@example.com",
            "Ada@Example.Com",
        ] {
            outbox.send_later(email(to));
        }
        outbox.send_later(email("bob@example.com"));
        let mut sent = Vec::new();
        while let Ok(job) = jobs.try_recv() {
            sent.push(job.recipient().unwrap().trim().to_lowercase());
        }
        assert_eq!(
            sent,
            [
                "ada@example.com",
                "ada@example.com",
                "ada@example.com",
                "bob@example.com"
            ]
        );
        assert_eq!(outbox.dropped(Dropped::RecipientLimit), 2);
        assert!(!outbox.admit("ada@example.com"));
        assert!(outbox.admit("bob@example.com"));
    }

    #[tokio::test]
    async fn workers_drain_the_queue_and_end_with_the_outbox() {
        let outbox = Outbox::start(Mailer::Log, keys(), 2, 100).unwrap();
        for i in 0..20 {
            outbox.send_later(email(&format!("u{i}@example.com")));
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(outbox.dropped(Dropped::QueueFull), 0);
    }

    #[test]
    fn send_errors_are_logged_without_addresses() {
        let t = "the SMTP server refused the message: permanent error (550): 5.1.1 <ada@example.com>: Recipient address rejected; also bob.smith+x@mail.example.org";
        let out = without_addresses(t);
        assert!(!out.contains('@'), "{out}");
        assert!(
            out.contains("5.1.1 <<address>>: Recipient address rejected"),
            "{out}"
        );
        assert_eq!(
            without_addresses("connection refused"),
            "connection refused"
        );
    }
}
