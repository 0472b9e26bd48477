//! Models shared by the integration tests.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use thing::{BaseModel, Snapshot, Thing};

/// A typical model: BaseModel, a unique email, optional and JSON columns.
#[derive(Thing, Debug, Clone, Default, PartialEq)]
#[thing(table = "users")]
pub struct User {
    #[thing(base)]
    pub base: BaseModel,
    #[thing(unique)]
    pub email: String,
    #[thing(index)]
    pub name: String,
    pub age: i32,
    pub bio: Option<String>,
    pub views: i64,
    pub data: serde_json::Value,
}

impl User {
    pub fn new(email: &str, name: &str, age: i32) -> Self {
        Self {
            email: email.into(),
            name: name.into(),
            age,
            data: serde_json::json!({}),
            ..Default::default()
        }
    }
}

/// A serde type stored with `#[thing(json)]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub theme: String,
    pub tags: Vec<String>,
}

/// Every supported column type, nullable and not.
#[derive(Thing, Debug, Clone, Default, PartialEq)]
pub struct Everything {
    #[thing(base)]
    pub base: BaseModel,
    pub tiny: i8,
    pub small: i16,
    pub int: i32,
    pub big: i64,
    pub unsigned: u32,
    pub float: f32,
    pub double: f64,
    pub flag: bool,
    pub text: String,
    pub bytes: Vec<u8>,
    pub instant: DateTime<Utc>,
    pub wall_clock: NaiveDateTime,
    pub day: NaiveDate,
    pub uuid: uuid::Uuid,
    pub doc: serde_json::Value,
    #[thing(json)]
    pub settings: Settings,
    pub opt_int: Option<i32>,
    pub opt_big: Option<i64>,
    pub opt_unsigned: Option<u32>,
    pub opt_double: Option<f64>,
    pub opt_flag: Option<bool>,
    pub opt_text: Option<String>,
    pub opt_bytes: Option<Vec<u8>>,
    pub opt_instant: Option<DateTime<Utc>>,
    pub opt_day: Option<NaiveDate>,
    pub opt_uuid: Option<uuid::Uuid>,
    pub opt_doc: Option<serde_json::Value>,
    #[thing(skip)]
    pub not_stored: String,
}

/// No BaseModel and no snapshot: `save` writes every column, `delete` is hard.
#[derive(Thing, Debug, Clone, Default, PartialEq)]
pub struct Plain {
    pub id: i64,
    pub label: String,
    pub count: i32,
}

/// A plain id with its own snapshot and a soft-delete flag.
#[derive(Thing, Debug, Clone, Default, PartialEq)]
pub struct Account {
    pub id: i64,
    #[thing(column = "owner_name")]
    pub owner: String,
    pub balance: i64,
    pub deleted: bool,
    pub snapshot: Snapshot,
}

/// The model of the query tests: every kind of filterable column, with NULLs.
#[derive(Thing, Debug, Clone, Default, PartialEq)]
#[thing(table = "items")]
pub struct Item {
    #[thing(base)]
    pub base: BaseModel,
    #[thing(index)]
    pub name: String,
    pub age: i32,
    pub rank: Option<i64>,
    pub tag: Option<String>,
    pub active: bool,
}
