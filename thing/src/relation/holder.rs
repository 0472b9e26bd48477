//! The fields that hold a model's related rows once loaded: [`BelongsTo`],
//! [`HasMany`] and [`ManyToMany`]. They are not columns: they are never
//! stored, never cached with the row, and every row read starts with them
//! unloaded.

use crate::error::{Error, Result};
use crate::schema::Schema;

/// The row a model belongs to, through a foreign key of its own
/// (`#[thing(belongs_to(User, fk = "user_id"))] user: BelongsTo<User>`).
///
/// Unloaded until the model's `load_<field>` accessor or a preload fills it.
///
/// ```
/// # use thing::{BaseModel, BelongsTo, Thing};
/// # #[derive(Thing, Debug, Default)] struct User { #[thing(base)] base: BaseModel, name: String }
/// let mut user = BelongsTo::<User>::default();
/// assert!(user.get().unwrap_err().to_string().contains("not loaded"));
/// user.set(None); // loaded: the foreign key is NULL or names no row
/// assert!(user.get().unwrap().is_none());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BelongsTo<T> {
    row: Option<Option<T>>,
}

impl<T> Default for BelongsTo<T> {
    fn default() -> Self {
        Self { row: None }
    }
}

impl<T: Schema> BelongsTo<T> {
    /// The related row: `Ok(None)` when the foreign key is NULL or names no
    /// (live) row, [`Error::NotLoaded`] when it has not been loaded.
    pub fn get(&self) -> Result<Option<&T>> {
        self.row
            .as_ref()
            .map(Option::as_ref)
            .ok_or(Error::NotLoaded {
                table: T::TABLE_NAME,
            })
    }

    /// [`BelongsTo::get`], mutably.
    pub fn get_mut(&mut self) -> Result<Option<&mut T>> {
        self.row
            .as_mut()
            .map(Option::as_mut)
            .ok_or(Error::NotLoaded {
                table: T::TABLE_NAME,
            })
    }
}

impl<T> BelongsTo<T> {
    /// Whether the row was loaded.
    pub fn is_loaded(&self) -> bool {
        self.row.is_some()
    }

    /// Stores a loaded row (`None`: there is none).
    pub fn set(&mut self, row: Option<T>) {
        self.row = Some(row);
    }

    /// Takes the loaded row out, leaving the holder unloaded.
    pub fn take(&mut self) -> Option<Option<T>> {
        self.row.take()
    }
}

/// Generates a holder of a list of related rows.
macro_rules! list_holder {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name<T> {
            rows: Option<Vec<T>>,
        }

        impl<T> Default for $name<T> {
            fn default() -> Self {
                Self { rows: None }
            }
        }

        impl<T: Schema> $name<T> {
            /// The related rows (maybe none), or [`Error::NotLoaded`] when
            /// they have not been loaded.
            pub fn get(&self) -> Result<&[T]> {
                self.rows.as_deref().ok_or(Error::NotLoaded { table: T::TABLE_NAME })
            }

            /// The related rows, mutably (to load their own relations).
            pub fn get_mut(&mut self) -> Result<&mut [T]> {
                self.rows.as_deref_mut().ok_or(Error::NotLoaded { table: T::TABLE_NAME })
            }
        }

        impl<T> $name<T> {
            /// Whether the rows were loaded.
            pub fn is_loaded(&self) -> bool {
                self.rows.is_some()
            }

            /// Stores loaded rows.
            pub fn set(&mut self, rows: Vec<T>) {
                self.rows = Some(rows);
            }

            /// Takes the loaded rows out, leaving the holder unloaded.
            pub fn take(&mut self) -> Option<Vec<T>> {
                self.rows.take()
            }
        }
    };
}

list_holder! {
    /// The rows whose foreign key names this model
    /// (`#[thing(has_many(Post, fk = "user_id"))] posts: HasMany<Post>`).
    ///
    /// Unloaded until the model's `load_<field>` accessor or a preload fills
    /// it; an unloaded holder is an error to read, never an empty list.
    ///
    /// ```
    /// # use thing::{BaseModel, HasMany, Thing};
    /// # #[derive(Thing, Debug, Default)] struct Post { #[thing(base)] base: BaseModel, #[thing(index)] user_id: i64 }
    /// let mut posts = HasMany::<Post>::default();
    /// assert!(posts.get().is_err());
    /// posts.set(Vec::new());
    /// assert!(posts.get().unwrap().is_empty());
    /// ```
    HasMany
}

list_holder! {
    /// The rows linked to this model through a join table
    /// (`#[thing(many_to_many(Role, join = "user_roles", fk = "user_id",
    /// other_fk = "role_id"))] roles: ManyToMany<Role>`).
    ///
    /// Unloaded until the model's `load_<field>` accessor or a preload fills
    /// it; an unloaded holder is an error to read, never an empty list.
    ///
    /// ```
    /// # use thing::{ManyToMany, Thing};
    /// # #[derive(Thing, Debug, Default)] struct Role { id: i64, name: String }
    /// let roles = ManyToMany::<Role>::default();
    /// assert!(!roles.is_loaded());
    /// ```
    ManyToMany
}
