//! CSV for exports an operator opens in a spreadsheet: a field is quoted when it must be, and
//! one that a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, or a tab,
//! carriage return or line feed, which some programs skip before looking) is prefixed with `'`.

use std::borrow::Cow;

/// What a cell may not start with, lest a spreadsheet run it.
const FORMULA_STARTS: [char; 7] = ['=', '+', '-', '@', '\t', '\r', '\n'];

/// One field, neutralised and quoted as needed.
pub fn field(value: &str) -> Cow<'_, str> {
    let value: Cow<'_, str> = if value.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    };
    if value.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", value.replace('"', "\"\"")))
    } else {
        value
    }
}

/// Appends one line of `fields` to `out`.
pub fn push_line<S: AsRef<str>>(out: &mut String, fields: &[S]) {
    for (index, value) in fields.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str(&field(value.as_ref()));
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_and_their_hiding_places_are_neutralised() {
        for cell in ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "\n=1"] {
            assert!(
                field(cell).trim_start_matches('"').starts_with('\''),
                "{cell:?}"
            );
        }
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("\r\n=cmd"), "\"'\r\n=cmd\"");
        let mut line = String::new();
        push_line(&mut line, &["1", "=2", "x,y"]);
        assert_eq!(line, "1,'=2,\"x,y\"\n");
    }
}
