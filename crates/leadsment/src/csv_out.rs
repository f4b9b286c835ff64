//! The one CSV writer for everything Leadsment hands to a spreadsheet (`leadsment export`,
//! and the leads feed's CSV when it comes). Visitors choose much of what ends up in a cell
//! (paths, campaign names, event names), and a spreadsheet runs a cell that begins with `=`,
//! `+`, `-` or `@` (or a tab or carriage return before one) as a formula. So every text cell
//! that begins with one of those gets a leading `'`, which spreadsheets show as text; numbers
//! are written as they are, negative ones included. Quoting is the `csv` crate's. This module
//! imports no capability.

use std::borrow::Cow;
use std::io::Write;

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

#[cfg(test)]
mod tests {
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
