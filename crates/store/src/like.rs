//! LIKE patterns built from user input. sea-orm's `starts_with`/`contains` put the text into
//! the pattern as is, so a `%` or `_` typed by a user would match anything; these escape the
//! wildcards (and the escape character) and declare the escape, on SQLite and PostgreSQL alike.

use sea_orm::sea_query::{Expr, ExprTrait, IntoColumnRef, LikeExpr, SimpleExpr};

const ESCAPE: char = '\\';

/// `raw` with `%`, `_` and `\` escaped, to be matched literally inside a LIKE pattern.
pub fn escape_like(raw: &str) -> String {
    let mut escaped = String::with_capacity(raw.len());
    for c in raw.chars() {
        if matches!(c, '%' | '_' | ESCAPE) {
            escaped.push(ESCAPE);
        }
        escaped.push(c);
    }
    escaped
}

/// `column LIKE '<escaped prefix>%' ESCAPE '\'`.
pub fn starts_with(column: impl IntoColumnRef, prefix: &str) -> SimpleExpr {
    like(Expr::col(column), format!("{}%", escape_like(prefix)))
}

/// `expr LIKE '%<escaped text>%' ESCAPE '\'`.
pub fn contains(expr: impl Into<SimpleExpr>, text: &str) -> SimpleExpr {
    like(expr, format!("%{}%", escape_like(text)))
}

fn like(expr: impl Into<SimpleExpr>, pattern: String) -> SimpleExpr {
    let expr: SimpleExpr = expr.into();
    expr.like(LikeExpr::new(pattern).escape(ESCAPE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_the_escape_are_escaped() {
        assert_eq!(escape_like("50%_off\\"), "50\\%\\_off\\\\");
        assert_eq!(escape_like("plain"), "plain");
    }
}
