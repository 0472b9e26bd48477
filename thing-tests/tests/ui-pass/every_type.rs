//! A model with `BaseModel`, every supported column type and every field attribute.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use thing::SqlType;
use thing::{BaseModel, Column, Thing};

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
struct Prefs {
    theme: String,
    font_size: u8,
}

#[derive(Thing, Debug, Clone, Default, PartialEq)]
#[thing(table = "everything")]
struct Everything {
    #[thing(base)]
    base: BaseModel,
    tiny: i8,
    small: i16,
    int: i32,
    big: i64,
    unsigned: u32,
    real: f32,
    double: f64,
    flag: bool,
    #[thing(unique)]
    name: String,
    blob: Vec<u8>,
    at: DateTime<Utc>,
    naive_at: NaiveDateTime,
    day: NaiveDate,
    uuid: uuid::Uuid,
    doc: serde_json::Value,
    maybe_int: Option<i32>,
    maybe_text: Option<String>,
    maybe_at: Option<DateTime<Utc>>,
    maybe_uuid: Option<uuid::Uuid>,
    #[thing(json)]
    prefs: Prefs,
    #[thing(json)]
    tags: Vec<String>,
    #[thing(skip)]
    scratch: Vec<String>,
    #[thing(column = "mail", index)]
    email: String,
    #[thing(default = "0")]
    score: i64,
}

fn main() {
    assert_eq!(Everything::TABLE, "everything");

    let names: Vec<&str> = Everything::COLUMNS.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "id",
            "created_at",
            "updated_at",
            "deleted",
            "tiny",
            "small",
            "int",
            "big",
            "unsigned",
            "real",
            "double",
            "flag",
            "name",
            "blob",
            "at",
            "naive_at",
            "day",
            "uuid",
            "doc",
            "maybe_int",
            "maybe_text",
            "maybe_at",
            "maybe_uuid",
            "prefs",
            "tags",
            "mail",
            "score",
        ]
    );
    let fields: Vec<&str> = Everything::COLUMNS.iter().map(|c| c.field).collect();
    assert_eq!(
        &fields[..5],
        [
            "base.id",
            "base.created_at",
            "base.updated_at",
            "base.deleted",
            "tiny"
        ]
    );
    assert_eq!(fields[25], "email");

    let meta = Everything::META;
    assert_eq!(
        (meta.id, meta.created_at, meta.updated_at, meta.deleted),
        (0, Some(1), Some(2), Some(3))
    );

    let types: Vec<SqlType> = Everything::COLUMNS.iter().map(|c| c.sql_type).collect();
    use SqlType::*;
    assert_eq!(
        types,
        [
            BigInt,
            TimestampTz,
            TimestampTz,
            Bool,
            TinyInt,
            SmallInt,
            Int,
            BigInt,
            UnsignedInt,
            Real,
            Double,
            Bool,
            Text,
            Blob,
            TimestampTz,
            Timestamp,
            Date,
            Uuid,
            Json,
            Int,
            Text,
            TimestampTz,
            Uuid,
            Json,
            Json,
            Text,
            BigInt,
        ]
    );
    let nullable: Vec<&str> = Everything::COLUMNS
        .iter()
        .filter(|c| c.nullable)
        .map(|c| c.name)
        .collect();
    assert_eq!(
        nullable,
        ["maybe_int", "maybe_text", "maybe_at", "maybe_uuid"]
    );

    let column = |name: &str| Everything::COLUMNS.iter().find(|c| c.name == name).unwrap();
    assert!(column("name").unique && !column("name").index);
    assert!(column("mail").index && !column("mail").unique);
    assert_eq!(column("score").default, Some("0"));
    assert_eq!(column("int").default, None);
    assert!(!Everything::COLUMNS.iter().any(|c| c.field == "scratch"));

    // Typed handles: one per column, named after the field, carrying the field type.
    let email: Column<Everything, String> = Everything::EMAIL;
    assert_eq!((email.name(), email.index()), ("mail", 25));
    let maybe_at: Column<Everything, Option<DateTime<Utc>>> = Everything::MAYBE_AT;
    assert_eq!(maybe_at.name(), "maybe_at");
    let id: Column<Everything, i64> = Everything::ID;
    assert_eq!((id.name(), id.index()), ("id", 0));
    let prefs: Column<Everything, Prefs> = Everything::PREFS;
    assert_eq!(prefs.index(), 23);

    // The row bytes round-trip every column; the skipped field comes back as Default.
    let value = Everything {
        tiny: -8,
        unsigned: u32::MAX,
        name: "ann".into(),
        blob: vec![0, 255],
        at: DateTime::from_timestamp(1_700_000_000, 5).unwrap(),
        day: NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(),
        uuid: uuid::Uuid::from_u128(7),
        doc: serde_json::json!({"a": [1, null]}),
        maybe_text: Some("bio".into()),
        prefs: Prefs {
            theme: "dark".into(),
            font_size: 14,
        },
        tags: vec!["x".into(), "y".into()],
        scratch: vec!["not stored".into()],
        email: "ann@example.com".into(),
        ..Default::default()
    };
    let decoded = Everything::decode_row(&value.encode_row()).expect("row decodes");
    assert_eq!(
        decoded,
        Everything {
            scratch: Vec::new(),
            ..value.clone()
        }
    );

    let mut changed = value.clone();
    changed.maybe_int = Some(1);
    changed.prefs.font_size = 16;
    changed.scratch.push("ignored".into());
    assert_eq!(value.changed_columns(&changed), ["maybe_int", "prefs"]);
    assert_ne!(Everything::SCHEMA_HASH, 0);
}
