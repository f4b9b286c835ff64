//! The one CSV writer for everything Leadsment hands to a spreadsheet (`leadsment export`,
//! and the leads feed's CSV when it comes). Visitors choose much of what ends up in a cell
//! (paths, campaign names, event names), and a spreadsheet runs a cell that begins with `=`,
//! `+`, `-` or `@` (or a tab or carriage return before one) as a formula. So every text cell
//! that begins with one of those gets a leading `'`, which spreadsheets show as text; numbers
//! are written as they are, negative ones included. Quoting is the `csv` crate's. This module
//! imports no capability. [`streamed`] makes a download of any size from pages of rows.

use std::borrow::Cow;
use std::future::Future;
use std::io::Write;

use axum::body::{Body, Bytes};

/// One cell: text (escaped if a spreadsheet would run it) or a number (never escaped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell<'a> {
    Text(Option<&'a str>),
    Int(Option<i64>),
}

pub struct CsvOut<W: Write> {
    inner: csv::Writer<W>,
}

impl<W: Write> CsvOut<W> {
    pub fn new(out: W) -> CsvOut<W> {
        CsvOut {
            inner: csv::Writer::from_writer(out),
        }
    }

    /// The header row (column names are ours, never a visitor's).
    pub fn header(&mut self, columns: &[&str]) -> csv::Result<()> {
        self.inner.write_record(columns)
    }

    pub fn row<'c>(&mut self, cells: impl IntoIterator<Item = Cell<'c>>) -> csv::Result<()> {
        for cell in cells {
            match cell {
                Cell::Text(text) => self
                    .inner
                    .write_field(text_cell(text.unwrap_or("")).as_bytes())?,
                Cell::Int(n) => self
                    .inner
                    .write_field(n.map(|n| n.to_string()).unwrap_or_default())?,
            }
        }
        self.inner.write_record(None::<&[u8]>)
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }

    /// Flushes and hands back what was written to.
    pub fn into_inner(self) -> std::io::Result<W> {
        self.inner.into_inner().map_err(|e| e.into_error())
    }
}

/// `text` as a spreadsheet will show it and never run it.
pub fn text_cell(text: &str) -> Cow<'_, str> {
    match text.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{text}")),
        _ => Cow::Borrowed(text),
    }
}

/// A CSV download written page by page: the header, then the rows of each page
/// `next_page` returns for a cursor (the first from `start`, each next one from the page
/// before), until a page comes back empty. One page is in memory at a time, and each is sent
/// as it is written. A page that cannot be read ends the body early, so the client sees a
/// broken download rather than one that looks whole; the reason is logged.
pub fn streamed<T, C, F, Fut, E>(
    columns: &'static [&'static str],
    start: C,
    next_page: F,
    write_row: fn(&mut CsvOut<Vec<u8>>, &T) -> csv::Result<()>,
) -> Body
where
    T: Send + 'static,
    C: Send + 'static,
    F: FnMut(C) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(Vec<T>, C), E>> + Send + 'static,
    E: std::fmt::Display,
{
    let pages = futures_util::stream::unfold(
        (Some(start), next_page, true),
        move |(cursor, mut next_page, first)| async move {
            let cursor = cursor?;
            let (rows, next) = match next_page(cursor).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::error!(error = %e, "a CSV download was cut off");
                    let err = std::io::Error::other(e.to_string());
                    return Some((Err(err), (None, next_page, false)));
                }
            };
            if rows.is_empty() && !first {
                return None;
            }
            let more = (!rows.is_empty()).then_some(next);
            let mut out = CsvOut::new(Vec::new());
            let written = (|| {
                if first {
                    out.header(columns)?;
                }
                rows.iter().try_for_each(|r| write_row(&mut out, r))
            })();
            let bytes = written
                .map_err(std::io::Error::other)
                .and_then(|()| out.into_inner())
                .map(Bytes::from);
            if let Err(e) = &bytes {
                tracing::error!(error = %e, "a CSV download was cut off");
                return Some((bytes, (None, next_page, false)));
            }
            Some((bytes, (more, next_page, false)))
        },
    );
    Body::from_stream(pages)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn line(cells: &[Cell<'_>]) -> String {
        let mut out = CsvOut::new(Vec::new());
        out.row(cells.iter().copied()).unwrap();
        out.flush().unwrap();
        String::from_utf8(out.inner.into_inner().unwrap()).unwrap()
    }

    #[test]
    fn text_a_spreadsheet_would_run_gets_a_leading_quote() {
        for (given, shown) in [
            (
                "=HYPERLINK(\"http://evil.example\")",
                "'=HYPERLINK(\"http://evil.example\")",
            ),
            ("+1+1", "'+1+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("/pricing", "/pricing"),
            ("Acme GmbH", "Acme GmbH"),
            ("", ""),
            ("a=b", "a=b"),
        ] {
            assert_eq!(text_cell(given), shown, "{given:?}");
        }
    }

    /// The body's chunks, and whether it ended with an error.
    async fn read(body: Body) -> (Vec<String>, bool) {
        use futures_util::StreamExt;
        let mut stream = body.into_data_stream();
        let mut chunks = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => chunks.push(String::from_utf8(bytes.to_vec()).unwrap()),
                Err(_) => return (chunks, true),
            }
        }
        (chunks, false)
    }

    fn write_n(out: &mut CsvOut<Vec<u8>>, n: &i64) -> csv::Result<()> {
        let text = format!("={n}");
        out.row([Cell::Int(Some(*n)), Cell::Text(Some(&text))])
    }

    /// Pages of up to three numbers from 1 to `last`, each after the cursor; the cursors asked
    /// for are noted.
    fn pages(
        last: i64,
        fail_after: Option<i64>,
        asked: std::sync::Arc<std::sync::Mutex<Vec<i64>>>,
    ) -> impl FnMut(i64) -> std::future::Ready<Result<(Vec<i64>, i64), String>> + Send {
        move |after| {
            asked.lock().unwrap().push(after);
            if fail_after.is_some_and(|f| after >= f) {
                return std::future::ready(Err("the database went away".to_owned()));
            }
            let page: Vec<i64> = (after + 1..=last.min(after + 3)).collect();
            let next = page.last().copied().unwrap_or(after);
            std::future::ready(Ok((page, next)))
        }
    }

    #[tokio::test]
    async fn a_streamed_csv_sends_one_chunk_per_page_and_reads_each_page_once() {
        let asked = std::sync::Arc::default();
        let body = streamed(
            &["n", "text"],
            0,
            pages(7, None, Arc::clone(&asked)),
            write_n,
        );
        let (chunks, failed) = read(body).await;
        assert!(!failed);
        assert_eq!(
            chunks,
            [
                "n,text\n1,'=1\n2,'=2\n3,'=3\n",
                "4,'=4\n5,'=5\n6,'=6\n",
                "7,'=7\n"
            ]
        );
        assert_eq!(*asked.lock().unwrap(), [0, 3, 6, 7]);

        // Nothing at all: the header alone.
        let body = streamed(&["n", "text"], 0, pages(0, None, Arc::default()), write_n);
        assert_eq!(read(body).await, (vec!["n,text\n".to_owned()], false));
    }

    #[tokio::test]
    async fn a_page_that_cannot_be_read_cuts_the_body_off() {
        let asked = std::sync::Arc::default();
        let body = streamed(
            &["n", "text"],
            0,
            pages(9, Some(3), Arc::clone(&asked)),
            write_n,
        );
        let (chunks, failed) = read(body).await;
        assert!(failed, "the body ends with an error, not as if whole");
        assert_eq!(chunks, ["n,text\n1,'=1\n2,'=2\n3,'=3\n"]);
        assert_eq!(
            *asked.lock().unwrap(),
            [0, 3],
            "nothing is read after the failure"
        );
    }

    #[test]
    fn numbers_are_left_alone_and_quoting_is_csv() {
        let row = line(&[
            Cell::Int(Some(-5)),
            Cell::Int(None),
            Cell::Text(Some("=1+1")),
            Cell::Text(Some("a, \"b\"")),
            Cell::Text(None),
        ]);
        assert_eq!(row, "-5,,'=1+1,\"a, \"\"b\"\"\",\n");
    }
}
