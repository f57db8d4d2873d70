//! The span fields of the JSON log format, written straight into the span's
//! field string. tracing-subscriber's own `JsonFields` builds a map of
//! `serde_json::Value`s (a `String` per field) and serializes it, for every
//! span: the API opens one per request, so that was a tenth of a cached
//! read's instructions, spent before anything is logged in the span. The
//! output is the same JSON object, which the JSON event formatter parses
//! when a line is logged inside the span.

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::{RecordFields, VisitOutput};
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

/// Formats span fields as one JSON object, `{"name":value,...}`.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonSpanFields;

impl<'writer> FormatFields<'writer> for JsonSpanFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = JsonVisitor::new(writer);
        fields.record(&mut visitor);
        visitor.finish()
    }

    fn add_fields(
        &self,
        current: &'writer mut tracing_subscriber::fmt::FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        // Fields recorded later join the object: the closing brace goes,
        // the new fields are written after a comma, and it closes again.
        let mut more = String::new();
        let mut visitor = JsonVisitor::new(Writer::new(&mut more));
        fields.record(&mut visitor);
        visitor.finish()?;
        if current.fields.len() < 2 {
            current.fields = more;
        } else if more.len() > 2 {
            current.fields.pop();
            current.fields.push(',');
            current.fields.push_str(&more[1..]);
        }
        Ok(())
    }
}

/// Writes each field as it is visited; `finish` closes the object.
pub struct JsonVisitor<'a> {
    writer: Buffered<'a>,
    first: bool,
    result: fmt::Result,
}

impl<'a> JsonVisitor<'a> {
    fn new(writer: Writer<'a>) -> Self {
        Self {
            writer: Buffered {
                out: writer,
                buf: [0; 256],
                len: 0,
            },
            first: true,
            result: Ok(()),
        }
    }

    fn key(&mut self, field: &Field) {
        let separator = if self.first { "{" } else { "," };
        self.first = false;
        self.result = self.result.and_then(|()| {
            self.writer.write_str(separator)?;
            self.writer.write_char('"')?;
            write_escaped(&mut self.writer, field.name())?;
            self.writer.write_str("\":")
        });
    }

    fn raw(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        self.key(field);
        self.result = self.result.and_then(|()| self.writer.write_fmt(value));
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.key(field);
        self.result = self.result.and_then(|()| {
            self.writer.write_char('"')?;
            write!(Escaping(&mut self.writer), "{value:?}")?;
            self.writer.write_char('"')
        });
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        self.result = self.result.and_then(|()| {
            self.writer.write_char('"')?;
            write_escaped(&mut self.writer, value)?;
            self.writer.write_char('"')
        });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.raw(field, format_args!("{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.raw(field, format_args!("{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.raw(field, format_args!("{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.raw(field, format_args!("{value}"));
        } else {
            // JSON has no NaN or infinity.
            self.record_str(field, &value.to_string());
        }
    }
}

impl VisitOutput<fmt::Result> for JsonVisitor<'_> {
    fn finish(mut self) -> fmt::Result {
        let close = if self.first { "{}" } else { "}" };
        self.result?;
        self.writer.write_str(close)?;
        self.writer.flush()
    }
}

/// Gathers the many small writes of a span's fields on the stack and hands
/// them on at once: the span's field string is then allocated once at its
/// size, rather than grown by doubling, a reallocation a step.
struct Buffered<'a> {
    out: Writer<'a>,
    buf: [u8; 256],
    len: usize,
}

impl Buffered<'_> {
    fn flush(&mut self) -> fmt::Result {
        // Only whole `str`s are ever copied in, so this is UTF-8.
        let text = std::str::from_utf8(&self.buf[..self.len]).map_err(|_| fmt::Error)?;
        self.out.write_str(text)?;
        self.len = 0;
        Ok(())
    }
}

impl Write for Buffered<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.len + s.len() > self.buf.len() {
            self.flush()?;
            if s.len() > self.buf.len() {
                return self.out.write_str(s);
            }
        }
        self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
        self.len += s.len();
        Ok(())
    }
}

/// Escapes what it is given as the inside of a JSON string.
struct Escaping<'w, W: Write>(&'w mut W);

impl<W: Write> Write for Escaping<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_escaped(self.0, s)
    }
}

fn write_escaped(out: &mut impl Write, s: &str) -> fmt::Result {
    let needs_escape = |b: &u8| *b < 0x20 || *b == b'"' || *b == b'\\' || *b == 0x7f;
    // Most values (ids, paths, methods) need no escape: a test of every byte
    // without an early exit, which the compiler turns into wide compares,
    // then one write. `position` below goes a byte at a time.
    if !s.bytes().fold(false, |found, b| found | needs_escape(&b)) {
        return out.write_str(s);
    }
    let mut rest = s;
    while let Some(i) = rest.as_bytes().iter().position(needs_escape) {
        out.write_str(&rest[..i])?;
        match rest.as_bytes()[i] {
            b'"' => out.write_str("\\\"")?,
            b'\\' => out.write_str("\\\\")?,
            b'\n' => out.write_str("\\n")?,
            b'\r' => out.write_str("\\r")?,
            b'\t' => out.write_str("\\t")?,
            byte => write!(out, "\\u{byte:04x}")?,
        }
        rest = &rest[i + 1..];
    }
    out.write_str(rest)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_logged_in_a_span_carries_its_fields() {
        let lines = Lines::default();
        let writer = lines.clone();
        // As telemetry::init_tracing sets up the JSON format.
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .fmt_fields(JsonSpanFields)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "request",
                request_id = %"id \"quoted\" \\ \n",
                path = "/api/x",
                long = "y".repeat(600).as_str(),
                n = 3u64,
                late = tracing::field::Empty,
            );
            let _entered = span.enter();
            span.record("late", true);
            tracing::info!(answer = 42, "inside");
        });
        let out = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(line["span"]["request_id"], "id \"quoted\" \\ \n", "{out}");
        assert_eq!(line["span"]["path"], "/api/x");
        assert_eq!(line["span"]["long"], "y".repeat(600));
        assert_eq!(line["span"]["n"], 3);
        assert_eq!(line["span"]["late"], true);
        assert_eq!(line["span"]["name"], "request");
        assert_eq!(line["answer"], 42);
    }

    #[test]
    fn strings_are_escaped_as_json() {
        let mut out = String::new();
        write_escaped(&mut out, "a\"b\\c\nd\u{1}é\u{7f}").unwrap();
        let parsed: String = serde_json::from_str(&format!("\"{out}\"")).unwrap();
        assert_eq!(parsed, "a\"b\\c\nd\u{1}é\u{7f}");
    }
}
