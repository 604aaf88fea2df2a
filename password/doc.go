// Package password hashes console passwords with argon2id and verifies them.
//
// Hashes are kept in the PHC string format,
//
//	$argon2id$v=19$m=65536,t=2,p=2$<salt>$<hash>
//
// with salt and hash in unpadded standard base64, so the parameters travel
// with each hash: raising the cost later leaves existing hashes verifiable.
package password
