-- +goose Up
-- Single sign-on identities bound to users: the first sign-in of a user
-- with an OpenID Connect provider binds the provider's (issuer, subject) to
-- it, and from then on that subject, and no other of the issuer, signs in
-- as the user. The unique index also serves the deletion of a user's
-- bindings by user_id.
CREATE TABLE user_identities (
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE UNIQUE INDEX user_identities_user_issuer ON user_identities (user_id, issuer);

-- +goose Down
DROP TABLE user_identities;
