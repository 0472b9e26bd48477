//! The fixed statements of a model (`SELECT` by id, the start of `IN`,
//! `INSERT`), built once per dialect and kept in the model's
//! [`StatementCache`](crate::schema::statements::StatementCache).

use super::column_list;
use crate::backend::dialect::Dialect;
use crate::schema::Schema;
use crate::schema::statements::ModelSql;
use std::fmt::Write;

/// The fixed statements of `T` in `dialect`, built on first use.
pub(crate) fn model_sql<T: Schema>(dialect: Dialect) -> &'static ModelSql {
    T::statements().get_or_build(dialect, || build::<T>(dialect))
}

fn build<T: Schema>(dialect: Dialect) -> ModelSql {
    let table = dialect.quote(T::TABLE_NAME);
    let id = dialect.quote(T::COLUMN_DEFS[T::MODEL_META.id].name);
    let columns = column_list(dialect, T::COLUMN_DEFS.iter());
    let select = format!("SELECT {columns} FROM {table} WHERE ");

    let mut insert = format!("INSERT INTO {table} (");
    let mut values = String::new();
    let mut n = 0;
    for column in insertable::<T>().map(|index| &T::COLUMN_DEFS[index]) {
        if n > 0 {
            insert.push_str(", ");
            values.push_str(", ");
        }
        n += 1;
        dialect.push_quoted(&mut insert, column.name);
        dialect.push_placeholder(&mut values, n);
    }
    if n == 0 && dialect != Dialect::MySql {
        // A model with no column but its id: `()` is not SQL there.
        insert = format!("INSERT INTO {table} DEFAULT VALUES");
    } else {
        let _ = write!(insert, ") VALUES ({values})");
    }
    if dialect.insert_returns_id() {
        let _ = write!(insert, " RETURNING {id}");
    }

    let mut select_by_id = format!("{select}{id} = ");
    dialect.push_placeholder(&mut select_by_id, 1);
    ModelSql {
        select_by_id,
        select_in_prefix: format!("{select}{id} IN ("),
        insert,
    }
}

/// The columns an INSERT writes: all but the id, which the database assigns.
pub(crate) fn insertable<T: Schema>() -> impl Iterator<Item = usize> {
    (0..T::COLUMN_DEFS.len()).filter(|&index| index != T::MODEL_META.id)
}
