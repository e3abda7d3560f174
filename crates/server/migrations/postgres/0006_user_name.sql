-- `users.name`: the display name the relying party registered the person with (`user[name]`, an
-- Assent extension to Authy's users/new), signed into requests as the person's name so that a
-- device shows "Ana Lima" rather than a number. NULL: none given (the e-mail is used instead).
ALTER TABLE users ADD COLUMN name TEXT;
