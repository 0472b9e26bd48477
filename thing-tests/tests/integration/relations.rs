//! Relations on every backend and both caches: eager loading at a fixed
//! number of statements (none when warm) that equals lazy loading, and every
//! write that changes a relation seen through a second handle.

use thing::{BaseModel, BelongsTo, Db, Error, HasMany, ManyToMany, Thing};
use thing_tests::cache_tests;

#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "users")]
struct User {
    #[thing(base)]
    base: BaseModel,
    name: String,
    #[thing(has_many(Post, fk = "user_id"))]
    posts: HasMany<Post>,
    #[thing(many_to_many(Role, join = "user_roles", fk = "user_id", other_fk = "role_id"))]
    roles: ManyToMany<Role>,
}

#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "posts")]
struct Post {
    #[thing(base)]
    base: BaseModel,
    #[thing(index)]
    user_id: i64,
    title: String,
    #[thing(belongs_to(User, fk = "user_id"))]
    user: BelongsTo<User>,
    #[thing(has_many(Comment, fk = "post_id"))]
    comments: HasMany<Comment>,
}

#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "comments")]
struct Comment {
    #[thing(base)]
    base: BaseModel,
    #[thing(index)]
    post_id: i64,
    body: String,
}

#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "roles")]
struct Role {
    #[thing(base)]
    base: BaseModel,
    name: String,
    #[thing(many_to_many(User, join = "user_roles", fk = "role_id", other_fk = "user_id"))]
    users: ManyToMany<User>,
}

/// A self-referential many-to-many: members following members.
#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "members")]
struct Member {
    #[thing(base)]
    base: BaseModel,
    #[thing(many_to_many(
        Member,
        join = "member_follows",
        fk = "follower_id",
        other_fk = "followee_id"
    ))]
    following: ManyToMany<Member>,
}

async fn create_tables(db: &Db) {
    db.create_table::<User>().await.unwrap();
    db.create_table::<Post>().await.unwrap();
    db.create_table::<Comment>().await.unwrap();
    db.create_table::<Role>().await.unwrap();
}

/// `users` users, each with 2 posts, each with 2 comments; returns them.
async fn seed(db: &Db, users: usize) -> Vec<User> {
    let mut people: Vec<User> = (0..users)
        .map(|n| User {
            name: format!("user {n}"),
            ..Default::default()
        })
        .collect();
    User::save_many(db, &mut people).await.unwrap();
    let mut posts: Vec<Post> = people
        .iter()
        .flat_map(|user| {
            (0..2).map(|n| Post {
                user_id: user.base.id,
                title: format!("{} post {n}", user.name),
                ..Default::default()
            })
        })
        .collect();
    Post::save_many(db, &mut posts).await.unwrap();
    let mut comments: Vec<Comment> = posts
        .iter()
        .flat_map(|post| {
            (0..2).map(|n| Comment {
                post_id: post.base.id,
                body: format!("{} comment {n}", post.title),
                ..Default::default()
            })
        })
        .collect();
    Comment::save_many(db, &mut comments).await.unwrap();
    people
}

/// A post as ids and text: its id, title and comments.
type PostTree = (i64, String, Vec<(i64, String)>);

/// Users → posts → comments as ids and text, from loaded holders.
fn tree(users: &[User]) -> Vec<(i64, Vec<PostTree>)> {
    users
        .iter()
        .map(|user| {
            let posts = user.posts.get().unwrap().iter().map(|post| {
                let comments = post.comments.get().unwrap().iter();
                let comments = comments.map(|c| (c.base.id, c.body.clone())).collect();
                (post.base.id, post.title.clone(), comments)
            });
            (user.base.id, posts.collect())
        })
        .collect()
}

/// The titles of `user`'s posts through `db`, loaded lazily.
async fn titles(db: &Db, user: &User) -> Vec<String> {
    let mut user = user.clone();
    let posts = user.load_posts(db).await.unwrap();
    posts.iter().map(|post| post.title.clone()).collect()
}

/// The names of `user`'s roles through `db`, and of the users of `role`.
async fn linked(db: &Db, user: &User, role: &Role) -> (Vec<String>, Vec<String>) {
    let (mut user, mut role) = (user.clone(), role.clone());
    let roles = user
        .load_roles(db)
        .await
        .unwrap()
        .iter()
        .map(|r| r.name.clone())
        .collect();
    let users = role
        .load_users(db)
        .await
        .unwrap()
        .iter()
        .map(|u| u.name.clone())
        .collect();
    (roles, users)
}

cache_tests! {
    /// 100 users with their posts and the posts' comments, preloaded: 6
    /// statements (ids and rows per level), then none; the same tree as
    /// lazy loading through a handle without a cache.
    async fn preloading_three_levels_costs_a_fixed_number_of_statements(c) {
        let db = c.handle().await;
        create_tables(&db).await;
        seed(&db, 100).await;

        let query = User::query().preload(User::POSTS.then(Post::COMMENTS));
        db.reset_stats();
        let users = query.all(&db).await.unwrap();
        assert_eq!(users.len(), 100);
        assert_eq!(db.stats().statements(), 6, "{:?}", db.stats());
        let eager = tree(&users);
        assert_eq!(eager.iter().map(|(_, posts)| posts.len()).sum::<usize>(), 200);

        db.reset_stats();
        let again = query.all(&db).await.unwrap();
        assert_eq!(db.stats().statements(), 0, "warm: {:?}", db.stats());
        assert_eq!(tree(&again), eager);

        let uncached = Db::builder(&c.t.url).no_cache().build().await.unwrap();
        let mut lazy = User::query().all(&uncached).await.unwrap();
        for user in &mut lazy {
            user.load_posts(&uncached).await.unwrap();
            for post in user.posts.get_mut().unwrap() {
                post.load_comments(&uncached).await.unwrap();
            }
        }
        assert_eq!(tree(&lazy), eager);
    }

    /// belongs_to eagerly: one `by_ids` over the distinct keys, each post
    /// with its own copy; a key naming a deleted row loads as `None`.
    async fn belongs_to_preloads_with_one_by_ids(c) {
        let db = c.handle().await;
        create_tables(&db).await;
        let users = seed(&db, 3).await;
        let mut posts = Post::query().order_by(Post::ID.asc()).all(&db).await.unwrap();
        assert!(matches!(posts[0].user.get(), Err(Error::NotLoaded { table: "users" })));

        db.reset_stats();
        thing::preload(&db, &mut posts, &Post::USER).await.unwrap();
        assert_eq!(db.stats().statements(), 1, "{:?}", db.stats());
        for post in &posts {
            assert_eq!(post.user.get().unwrap().unwrap().base.id, post.user_id);
        }
        users[0].delete(&db).await.unwrap();
        let mut first = posts[0].clone();
        assert!(first.load_user(&db).await.unwrap().is_none());
        thing::preload(&db, &mut posts, &Post::USER).await.unwrap();
        assert!(posts[0].user.get().unwrap().is_none());
        assert!(posts[2].user.get().unwrap().is_some());
    }

    /// Writes to a child change exactly its parents' lists, for another
    /// handle: a post moved to another user leaves one list and joins the
    /// other; a soft delete, a restore, a hard delete and a new post each
    /// show; an unrelated user's cached list stays a cache hit throughout.
    async fn child_writes_change_exactly_the_affected_lists(c) {
        let writer = c.handle().await;
        let reader = c.handle().await;
        create_tables(&writer).await;
        let users = seed(&writer, 3).await;
        let (ann, bob, cid) = (&users[0], &users[1], &users[2]);
        for user in &users {
            titles(&reader, user).await;
        }

        let mut moved = Post::query().filter(Post::USER_ID.eq(ann.base.id)).first(&writer).await.unwrap().unwrap();
        moved.user_id = bob.base.id;
        moved.save(&writer).await.unwrap();
        assert_eq!(titles(&reader, ann).await, ["user 0 post 1"]);
        assert_eq!(titles(&reader, bob).await, ["user 0 post 0", "user 1 post 0", "user 1 post 1"]);
        let mut eager = vec![ann.clone(), bob.clone()];
        thing::preload(&reader, &mut eager, &User::POSTS).await.unwrap();
        assert_eq!((eager[0].posts.get().unwrap().len(), eager[1].posts.get().unwrap().len()), (1, 3));

        moved.delete(&writer).await.unwrap();
        assert_eq!(titles(&reader, bob).await, ["user 1 post 0", "user 1 post 1"]);
        moved.restore(&writer).await.unwrap();
        assert_eq!(titles(&reader, bob).await.len(), 3);
        let restored = Post::by_id(&writer, moved.base.id).await.unwrap();
        restored.delete_hard(&writer).await.unwrap();
        assert_eq!(titles(&reader, bob).await.len(), 2);
        let mut fresh = Post { user_id: ann.base.id, title: "new".into(), ..Default::default() };
        fresh.save(&writer).await.unwrap();
        assert_eq!(titles(&reader, ann).await, ["user 0 post 1", "new"]);

        reader.reset_stats();
        assert_eq!(titles(&reader, cid).await, ["user 2 post 0", "user 2 post 1"]);
        let stats = reader.stats();
        assert_eq!((stats.statements(), stats.query_hits), (0, 1), "untouched list: {stats:?}");
    }

    /// link and unlink keep both directions right for another handle, lazily
    /// and preloaded; linking twice is one link; `create_table` made the join
    /// table.
    async fn links_are_seen_from_both_sides(c) {
        let writer = c.handle().await;
        let reader = c.handle().await;
        create_tables(&writer).await;
        let users = seed(&writer, 2).await;
        let mut roles = vec![
            Role { name: "admin".into(), ..Default::default() },
            Role { name: "editor".into(), ..Default::default() },
        ];
        Role::save_many(&writer, &mut roles).await.unwrap();
        let (ann, admin, editor) = (&users[0], &roles[0], &roles[1]);
        assert_eq!(linked(&reader, ann, admin).await, (vec![], vec![]));

        User::ROLES.link(&writer, ann, admin).await.unwrap();
        User::ROLES.link(&writer, ann, admin).await.unwrap();
        Role::USERS.link(&writer, editor, ann).await.unwrap();
        assert_eq!(
            linked(&reader, ann, admin).await,
            (vec!["admin".into(), "editor".into()], vec!["user 0".into()])
        );
        let mut eager = users.clone();
        thing::preload(&reader, &mut eager, &User::ROLES).await.unwrap();
        assert_eq!(eager[0].roles.get().unwrap().len(), 2);
        assert!(eager[1].roles.get().unwrap().is_empty());

        assert_eq!(User::ROLES.unlink(&writer, ann, admin).await.unwrap(), 1);
        assert_eq!(linked(&reader, ann, admin).await, (vec!["editor".into()], vec![]));
        let mut eager = roles.clone();
        thing::preload(&reader, &mut eager, &Role::USERS).await.unwrap();
        assert!(eager[0].users.get().unwrap().is_empty());
        assert_eq!(eager[1].users.get().unwrap()[0].name, "user 0");

        editor.delete(&writer).await.unwrap();
        assert_eq!(linked(&reader, ann, admin).await.0, Vec::<String>::new(), "a deleted role is not loaded");
    }

    /// Inside a transaction relations read the transaction's own writes.
    async fn relations_read_inside_a_transaction(c) {
        let db = c.handle().await;
        create_tables(&db).await;
        let users = seed(&db, 1).await;
        let tx = db.begin().await.unwrap();
        let mut post = Post { user_id: users[0].base.id, title: "draft".into(), ..Default::default() };
        post.save(&tx).await.unwrap();
        let mut ann = users[0].clone();
        assert_eq!(ann.load_posts(&tx).await.unwrap().len(), 3);
        tx.rollback().await.unwrap();
        assert_eq!(titles(&db, &users[0]).await.len(), 2);
    }

    /// A self-referential many-to-many: `ids` lists whom a member follows,
    /// in the order linked, each once; `linked` answers for one pair; both
    /// follow another handle's links and unlinks, and a warm read sends no
    /// SQL.
    async fn link_ids_and_linked_follow_another_handle(c) {
        let writer = c.handle().await;
        let reader = c.handle().await;
        writer.create_table::<Member>().await.unwrap();
        let mut members = vec![Member::default(), Member::default(), Member::default()];
        Member::save_many(&writer, &mut members).await.unwrap();
        let [ann, bob, cat] = [&members[0], &members[1], &members[2]].map(|m| m.base.id);
        let follows = async |db: &Db, who: i64| Member::FOLLOWING.ids(db, who).await.unwrap();
        assert!(follows(&reader, ann).await.is_empty());
        assert!(!Member::FOLLOWING.linked(&reader, &members[0], &members[2]).await.unwrap());

        let link = async |a: &Member, b: &Member| Member::FOLLOWING.link(&writer, a, b).await.unwrap();
        assert!(link(&members[0], &members[2]).await, "a new link");
        assert!(link(&members[0], &members[1]).await);
        assert!(!link(&members[0], &members[2]).await, "linked already");
        assert!(link(&members[2], &members[0]).await);
        // What two concurrent links of one pair can leave: a second join row.
        let twice = __ThingJoin_Member_following { id: 0, followee_id: cat, follower_id: ann };
        twice.clone().save(&writer).await.unwrap();
        assert_eq!(follows(&reader, ann).await, [cat, bob]);
        assert_eq!(follows(&reader, cat).await, [ann]);
        assert!(follows(&reader, bob).await.is_empty());
        assert!(Member::FOLLOWING.linked(&reader, &members[0], &members[2]).await.unwrap());
        assert!(!Member::FOLLOWING.linked(&reader, &members[1], &members[0]).await.unwrap());

        reader.reset_stats();
        assert_eq!(follows(&reader, ann).await, [cat, bob]);
        assert!(Member::FOLLOWING.linked(&reader, &members[0], &members[2]).await.unwrap());
        assert_eq!(reader.stats().statements(), 0, "warm: {:?}", reader.stats());

        assert_eq!(Member::FOLLOWING.unlink(&writer, &members[0], &members[2]).await.unwrap(), 2, "every copy");
        assert_eq!(follows(&reader, ann).await, [bob]);
        assert!(!Member::FOLLOWING.linked(&reader, &members[0], &members[2]).await.unwrap());
        assert!(Member::FOLLOWING.linked(&reader, &members[2], &members[0]).await.unwrap());
    }

    /// Two unlinks of one pair at once both succeed: the one whose delete
    /// waits for the other's transaction finds the join row gone, removes
    /// nothing, and says so (it was `NotFound` for a row already gone).
    async fn concurrent_unlinks_of_one_pair_both_succeed(c) {
        let first = c.handle().await;
        let second = c.handle().await;
        first.create_table::<Member>().await.unwrap();
        let mut members = vec![Member::default(), Member::default()];
        Member::save_many(&first, &mut members).await.unwrap();
        Member::FOLLOWING.link(&first, &members[0], &members[1]).await.unwrap();
        // The first unlink deletes the join row in a transaction it holds
        // open; the second reads the row (committed) and its delete waits.
        let tx = first.begin().await.unwrap();
        assert_eq!(Member::FOLLOWING.unlink(&tx, &members[0], &members[1]).await.unwrap(), 1);
        let waiting = {
            let (db, members) = (second.clone(), members.clone());
            tokio::spawn(async move { Member::FOLLOWING.unlink(&db, &members[0], &members[1]).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        tx.commit().await.unwrap();
        let removed = waiting.await.unwrap().expect("the unlink of a row already gone succeeds");
        assert_eq!(removed, 0, "the other unlink removed it");
        assert!(Member::FOLLOWING.ids(&second, members[0].base.id).await.unwrap().is_empty());
        assert!(!Member::FOLLOWING.linked(&first, &members[0], &members[1]).await.unwrap());
    }
}
