//! A filter's SQL: the [`Expr`] tree written as a `WHERE` condition in one
//! dialect, with the values its placeholders bind, in order.

use crate::backend::dialect::Dialect;
use crate::backend::value_list::{self, ListKind};
use crate::query::filter::{CmpOp, Expr, placeholders};
use crate::schema::ColumnDef;
use crate::value::Value;

impl Expr {
    /// Appends the filter as SQL to `sql`, its values to `args`.
    pub(crate) fn render<'a>(
        &'a self,
        dialect: Dialect,
        columns: &[ColumnDef],
        sql: &mut String,
        args: &mut Vec<Bind<'a>>,
    ) {
        Renderer {
            dialect,
            columns,
            sql,
            args,
        }
        .expr(self);
    }
}

/// What one placeholder of a rendered filter binds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bind<'a> {
    /// One value.
    One(&'a Value),
    /// A whole `IN` list, as one parameter (see [`value_list`]).
    List(&'a [Value]),
}

/// Writes one filter as SQL: its text and, in order, the values its
/// placeholders bind.
struct Renderer<'r, 'a> {
    dialect: Dialect,
    columns: &'r [ColumnDef],
    sql: &'r mut String,
    args: &'r mut Vec<Bind<'a>>,
}

impl<'a> Renderer<'_, 'a> {
    fn expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Const(true) => self.sql.push_str("1 = 1"),
            Expr::Const(false) => self.sql.push_str("1 = 0"),
            Expr::Cmp { column, op, value } => {
                self.column(*column);
                self.sql.push(' ');
                self.sql.push_str(op.sql());
                self.sql.push(' ');
                self.placeholder(value);
            }
            Expr::In {
                column,
                values,
                negated,
            } => self.membership(*column, values, *negated),
            Expr::Like { column, pattern } => self.like(*column, pattern),
            Expr::Null { column, negated } => {
                self.column(*column);
                self.sql
                    .push_str(if *negated { " IS NOT NULL" } else { " IS NULL" });
            }
            Expr::RowCmp {
                columns,
                op,
                values,
            } => self.row_comparison(columns, *op, values),
            Expr::And(parts) => self.group(parts, " AND "),
            Expr::Or(parts) => self.group(parts, " OR "),
            Expr::Not(inner) => {
                self.sql.push_str("NOT (");
                self.expr(inner);
                self.sql.push(')');
            }
            Expr::Raw { sql, args } => self.raw(sql, args),
        }
    }

    fn column(&mut self, column: usize) {
        self.dialect
            .push_quoted(self.sql, self.columns[column].name);
    }

    fn placeholder(&mut self, value: &'a Value) {
        self.args.push(Bind::One(value));
        self.dialect.push_placeholder(self.sql, self.args.len());
    }

    /// `IN` over a long list bound as one parameter, when the backend can
    /// take the list's type that way; `false` if not (nothing written).
    fn one_parameter_membership(
        &mut self,
        column: usize,
        values: &'a [Value],
        negated: bool,
    ) -> bool {
        let Some(kind) = ListKind::of(values) else {
            return false;
        };
        if values.len() <= value_list::one_parameter_from(self.dialect)
            || !kind.one_parameter(self.dialect)
        {
            return false;
        }
        self.column(column);
        self.args.push(Bind::List(values));
        let n = self.args.len();
        let dialect = self.dialect;
        value_list::push_membership(dialect, kind, negated, self.sql, |sql| {
            dialect.push_placeholder(sql, n);
        });
        true
    }

    fn membership(&mut self, column: usize, values: &'a [Value], negated: bool) {
        if values.is_empty() {
            // `IN ()` is not SQL; queries simplify it away before this.
            if negated {
                self.column(column);
                self.sql.push_str(" IS NOT NULL");
            } else {
                self.sql.push_str("1 = 0");
            }
            return;
        }
        if self.one_parameter_membership(column, values, negated) {
            return;
        }
        self.column(column);
        self.sql
            .push_str(if negated { " NOT IN (" } else { " IN (" });
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.placeholder(value);
        }
        self.sql.push(')');
    }

    fn like(&mut self, column: usize, pattern: &'a Value) {
        self.column(column);
        self.sql.push_str(" LIKE ");
        self.placeholder(pattern);
        self.sql.push_str(match self.dialect {
            Dialect::MySql => " ESCAPE '\\\\'",
            _ => " ESCAPE '\\'",
        });
    }

    fn group(&mut self, parts: &'a [Expr], joiner: &str) {
        self.sql.push('(');
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                self.sql.push_str(joiner);
            }
            self.expr(part);
        }
        self.sql.push(')');
    }

    /// A raw fragment, its placeholders (`?` outside quotes) turned into this
    /// dialect's. [`Expr::check`] has checked that they match `args`.
    /// `(a, b) < ($1, $2)`.
    fn row_comparison(&mut self, columns: &[usize], op: CmpOp, values: &'a [Value]) {
        self.sql.push('(');
        for (i, &column) in columns.iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.column(column);
        }
        self.sql.push_str(") ");
        self.sql.push_str(op.sql());
        self.sql.push_str(" (");
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.placeholder(value);
        }
        self.sql.push(')');
    }

    fn raw(&mut self, fragment: &str, args: &'a [Value]) {
        self.sql.push('(');
        let mut args = args.iter();
        let mut from = 0;
        for at in placeholders(fragment) {
            self.sql.push_str(&fragment[from..at]);
            match args.next() {
                Some(value) => self.placeholder(value),
                None => self.sql.push('?'),
            }
            from = at + 1;
        }
        self.sql.push_str(&fragment[from..]);
        self.sql.push(')');
    }
}

impl CmpOp {
    /// The operator in SQL.
    fn sql(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "<>",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Lt => "<",
            Self::Le => "<=",
        }
    }
}
