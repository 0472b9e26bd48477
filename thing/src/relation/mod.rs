//! Relationships between models, declared with `#[thing(belongs_to(..))]`,
//! `#[thing(has_many(..))]` and `#[thing(many_to_many(..))]` and built on the
//! cached reads: `by_id` and `by_ids` for the related rows, cached list
//! queries on the foreign keys for which rows are related. A relation is
//! loaded lazily (the model's `load_<field>` accessor), eagerly for many rows
//! ([`preload`], [`Query::preload`](crate::Query::preload)), and nested
//! (`User::POSTS.then(Post::COMMENTS)`).

mod belongs_to;
mod has_many;
mod holder;
mod many_to_many;
mod preload;
#[doc(hidden)]
pub mod support;

pub use belongs_to::BelongsToRelation;
pub use has_many::HasManyRelation;
pub use holder::{BelongsTo, HasMany, ManyToMany};
pub use many_to_many::{JoinRow, ManyToManyRelation};
pub use preload::{Nested, Preload, Preloading, Related, preload};
