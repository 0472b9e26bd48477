//! SeaORM 2: entities of the same tables (the compact format, relations
//! declared for the loader) and each case in SeaORM's own API, on a
//! `DatabaseConnection` over the same sqlx pool as raw sqlx
//! (`Sqlx*Connector::from_sqlx_*_pool`).

use super::model::{Answer, NewRow, PlainRow, ToAnswer, Tree};
use super::raw::RawPool;
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, DatabaseConnection, EntityTrait, LoaderTrait,
    QueryFilter, QueryOrder, QuerySelect, SqlxMySqlConnector, SqlxPostgresConnector,
    SqlxSqliteConnector, TransactionTrait,
};

/// An entity of the ten columns of `bench_rows` on `$table`.
macro_rules! row_entity {
    ($table:literal) => {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = $table)]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i64,
            pub created_at: DateTimeUtc,
            pub updated_at: DateTimeUtc,
            pub deleted: bool,
            pub email: String,
            pub name: String,
            pub team: i64,
            pub age: i32,
            pub bio: Option<String>,
            pub views: i64,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod row {
    row_entity!("bench_rows");
}

pub mod write {
    row_entity!("bench_writes");
}

pub mod user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "bench_users")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub deleted: bool,
        pub name: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(has_many = "super::post::Entity")]
        Post,
    }

    impl Related<super::post::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Post.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod post {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "bench_posts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub deleted: bool,
        pub user_id: i64,
        pub title: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::user::Entity",
            from = "Column::UserId",
            to = "super::user::Column::Id"
        )]
        User,
        #[sea_orm(has_many = "super::comment::Entity")]
        Comment,
    }

    impl Related<super::user::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::User.def()
        }
    }

    impl Related<super::comment::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Comment.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod comment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "bench_comments")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub deleted: bool,
        pub post_id: i64,
        pub body: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::post::Entity",
            from = "Column::PostId",
            to = "super::post::Column::Id"
        )]
        Post,
    }

    impl Related<super::post::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Post.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// SeaORM's result of the relations case: each user with its posts, each
/// post with its comments.
pub type SeaTree = Vec<(user::Model, Vec<(post::Model, Vec<comment::Model>)>)>;

impl From<&row::Model> for PlainRow {
    fn from(row: &row::Model) -> Self {
        Self {
            id: row.id,
            created_at: row.created_at,
            updated_at: row.updated_at,
            deleted: row.deleted,
            email: row.email.clone(),
            name: row.name.clone(),
            team: row.team,
            age: row.age,
            bio: row.bio.clone(),
            views: row.views,
        }
    }
}

impl ToAnswer for row::Model {
    fn to_answer(&self) -> Answer {
        Answer::Rows(vec![self.into()])
    }
}

impl ToAnswer for Vec<row::Model> {
    fn to_answer(&self) -> Answer {
        Answer::Rows(self.iter().map(PlainRow::from).collect())
    }
}

impl ToAnswer for SeaTree {
    fn to_answer(&self) -> Answer {
        let tree: Tree = self
            .iter()
            .map(|(user, posts)| {
                let posts = posts.iter().map(|(post, comments)| {
                    let comments = comments
                        .iter()
                        .map(|c| (c.id, c.created_at, c.updated_at, c.deleted, c.body.clone()));
                    let title = post.title.clone();
                    let node = (
                        post.id,
                        post.created_at,
                        post.updated_at,
                        post.deleted,
                        title,
                    );
                    (node, comments.collect())
                });
                let name = user.name.clone();
                let node = (
                    user.id,
                    user.created_at,
                    user.updated_at,
                    user.deleted,
                    name,
                );
                (node, posts.collect())
            })
            .collect();
        Answer::Tree(tree)
    }
}

/// A SeaORM connection on `pool`.
pub fn connect(pool: &RawPool) -> DatabaseConnection {
    match pool {
        RawPool::Sqlite(pool) => SqlxSqliteConnector::from_sqlx_sqlite_pool(pool.clone()),
        RawPool::Postgres(pool) => SqlxPostgresConnector::from_sqlx_postgres_pool(pool.clone()),
        RawPool::MySql(pool) => SqlxMySqlConnector::from_sqlx_mysql_pool(pool.clone()),
    }
}

/// `find_by_id(id).one(db)`.
pub async fn by_id(db: &DatabaseConnection, id: i64) -> row::Model {
    row::Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .expect("row")
}

/// The first `n` rows by id.
pub async fn first_rows(db: &DatabaseConnection, n: u64) -> Vec<row::Model> {
    row::Entity::find()
        .filter(row::Column::Deleted.eq(false))
        .order_by_asc(row::Column::Id)
        .limit(n)
        .all(db)
        .await
        .unwrap()
}

/// The 20 oldest of a team.
pub async fn team_page(db: &DatabaseConnection, team: i64) -> Vec<row::Model> {
    row::Entity::find()
        .filter(row::Column::Team.eq(team))
        .filter(row::Column::Deleted.eq(false))
        .order_by_desc(row::Column::Age)
        .order_by_asc(row::Column::Id)
        .limit(20)
        .all(db)
        .await
        .unwrap()
}

fn active(new: &NewRow) -> write::ActiveModel {
    let now = Utc::now();
    write::ActiveModel {
        id: ActiveValue::NotSet,
        created_at: ActiveValue::Set(now),
        updated_at: ActiveValue::Set(now),
        deleted: ActiveValue::Set(false),
        email: ActiveValue::Set(new.email.clone()),
        name: ActiveValue::Set(new.name.clone()),
        team: ActiveValue::Set(new.team),
        age: ActiveValue::Set(new.age),
        bio: ActiveValue::Set(new.bio.clone()),
        views: ActiveValue::Set(new.views),
    }
}

/// `Entity::insert(active_model).exec(db)`: the new id.
pub async fn insert_one(db: &DatabaseConnection, new: &NewRow) -> i64 {
    write::Entity::insert(active(new))
        .exec(db)
        .await
        .unwrap()
        .last_insert_id
}

/// `Entity::insert_many(..).exec(&txn)` in a transaction.
pub async fn insert_batch(db: &DatabaseConnection, rows: &[NewRow]) {
    let txn = db.begin().await.unwrap();
    write::Entity::insert_many(rows.iter().map(active))
        .exec(&txn)
        .await
        .unwrap();
    txn.commit().await.unwrap();
}

/// An `ActiveModel` with the id `Unchanged` and `views` and `updated_at`
/// `Set`, `.update(db)`: the updated model.
pub async fn update_views(db: &DatabaseConnection, id: i64, views: i64) -> write::Model {
    write::ActiveModel {
        id: ActiveValue::Unchanged(id),
        views: ActiveValue::Set(views),
        updated_at: ActiveValue::Set(Utc::now()),
        ..Default::default()
    }
    .update(db)
    .await
    .unwrap()
}

/// The users, then `load_many` of their posts, then `load_many` of the
/// posts' comments: one query per level.
pub async fn tree(db: &DatabaseConnection) -> SeaTree {
    let users = user::Entity::find()
        .filter(user::Column::Deleted.eq(false))
        .order_by_asc(user::Column::Id)
        .all(db)
        .await
        .unwrap();
    let posts = post::Entity::find()
        .filter(post::Column::Deleted.eq(false))
        .order_by_asc(post::Column::Id);
    let posts = users.load_many(posts, db).await.unwrap();
    let counts: Vec<usize> = posts.iter().map(Vec::len).collect();
    let posts: Vec<post::Model> = posts.into_iter().flatten().collect();
    let comments = comment::Entity::find()
        .filter(comment::Column::Deleted.eq(false))
        .order_by_asc(comment::Column::Id);
    let comments = posts.load_many(comments, db).await.unwrap();
    let mut posts = posts.into_iter().zip(comments);
    users
        .into_iter()
        .zip(counts)
        .map(|(user, count)| (user, posts.by_ref().take(count).collect()))
        .collect()
}
