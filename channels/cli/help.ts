/** `kumo help COMMAND`: what each command does, its arguments and options, in more words than the usage. */

const CONNECTION = `
  --url URL     the host (default $KUMO_URL or http://localhost:3000)
  --eci ECI     the cloud to act on (default $KUMO_ECI or the ECI in <data>/root.eci)
  --data DIR    where root.eci is (default $KUMO_DATA or ./kumo-data)
  --json        print JSON for scripts`;

const HELP: Record<string, string> = {
  serve: `kumo serve [--port 3000] [--host ADDR] [--data ./kumo-data] [--rulesets DIR] [--sync] [--max-connections N]

Run a host: LevelDB in the data directory (created 0700; one that others may read is refused), the
rulesets of DIR registered, HTTP and WebSocket on one port. On its first start it creates the root
cloud and prints its owner ECI once (also kept in <data>/root.eci, mode 0600). Stops gracefully on
SIGINT or SIGTERM.

  --port N              the port (default $PORT or 3000; 0 picks a free one)
  --host ADDR           the interface to bind (default: all; 127.0.0.1 keeps it local)
  --data DIR            the data directory (default $KUMO_DATA or ./kumo-data)
  --rulesets DIR        import every .ts/.js file in DIR and register the rulesets it exports;
                        they may import { ruleset, z } from 'kumo'
  --sync                fsync every commit (survives power loss, not only a crash)
  --max-connections N   connections served at once (default 10000, lowered to what the
                        open-file limit allows)

In a realm (README, "A realm of hosts"): --nats URLS [--realm NAME] [--host-id ID]
[--nats-creds FILE] [--partitions N] [--replicas N]; and MQTT devices (README, "MQTT devices"):

  --mqtt                apply devices' events from the realm's device stream, push to devices
  --mqtt-key FILE       and hand out device credentials (POST /c/:eci/mqtt), signed with this
                        seed of the realm account (or one of its signing keys)
  --mqtt-account KEY    the realm account's public key, when --mqtt-key is a signing key
  --mqtt-url URL        the MQTT listener devices connect to, told to them with their credentials`,
  'cloud new': `kumo cloud new NAME

Create a child cloud of the --eci cloud, with the built-in rulesets. Prints its id and the
parent's ECI on it (full authority over the child).
${CONNECTION}`,
  'cloud ls': `kumo cloud ls

List the child clouds of the --eci cloud: name, id and the parent's ECI on each (shown only to an
ECI with full authority).
${CONNECTION}`,
  'cloud rm': `kumo cloud rm NAME
kumo cloud rm --id ID

Delete a child cloud of the --eci cloud, and its whole subtree: by its name, or by its id with
--id (a name is never matched against ids).
${CONNECTION}`,
  'cloud export': `kumo cloud export NAME [--passphrase-file F] [--remove --moved-to URL] > FILE

Write the child cloud NAME of the --eci cloud, and its whole subtree, as a cloud file on stdout:
every record (state, ECIs, schedules, links, logs), readable by kumo cloud import on any host of any
provider. With --passphrase-file, the file is encrypted (AES-256-GCM, key from the passphrase by
scrypt); its header (format, clouds, rulesets needed) stays readable. With --remove, the clouds then
leave this host: each of their ECIs is answered 410 CLOUD_MOVED with the URL given to --moved-to
(where you will import them), and their undelivered outgoing events travel in the file.

  --passphrase-file F   encrypt with the passphrase on the first line of F
  --remove              delete the clouds here once written (needs --moved-to)
  --moved-to URL        the base URL of their new host, for senders to follow
${CONNECTION}`,
  'cloud import': `kumo cloud import FILE [--under PARENT_ECI] [--passphrase-file F]

Bring in the clouds of a cloud file as a child of the --eci cloud (or of the cloud behind
PARENT_ECI, which needs that cloud's full authority): ids, ECIs, state, schedules and links as they
were. Refused, with nothing written, when the file is not a kumo cloud file, is truncated or
corrupt, is of an unknown format version, cannot be decrypted, needs rulesets this host does not
have (they are listed), or would collide with a cloud or ECI this host has.

  --under PARENT_ECI    the new parent (default: the --eci cloud)
  --passphrase-file F   the passphrase of an encrypted file
${CONNECTION}`,
  'eci new': `kumo eci new [--tags a,b] [--event-policy JSON] [--query-policy JSON]

Create an ECI on the --eci cloud. A policy is {"allow": [...], "deny": [...]}: event rules are
{"domain", "name"}, query rules {"rid", "name"}, "*" matches anything, deny wins. Given one policy
and not the other, the other allows nothing (an ECI for a sensor's events answers no queries);
given neither, the new ECI gets the policies of the ECI it is made through. It never gets more
authority than that ECI (the policies are intersected). Prints the ECI and its policies.
${CONNECTION}`,
  'eci ls': `kumo eci ls

List the ECIs of the --eci cloud that are within its authority, with tags and policies.
${CONNECTION}`,
  'eci rm': `kumo eci rm ECI

Delete an ECI of the --eci cloud (system ECIs cannot be deleted).
${CONNECTION}`,
  install: `kumo install RID [--config JSON]

Install a ruleset registered on the host (see kumo rulesets) into the --eci cloud, with its config.
${CONNECTION}`,
  uninstall: `kumo uninstall RID

Uninstall a ruleset from the --eci cloud; its state is deleted.
${CONNECTION}`,
  rulesets: `kumo rulesets

List the rulesets registered on the host (those kumo install can install): rid, version, name.
${CONNECTION}`,
  installed: `kumo installed

List the rulesets installed in the --eci cloud, in the order they run.
${CONNECTION}`,
  event: `kumo event ECI DOMAIN:TYPE [key=value | key:=json ...] [--eid EID]

Send an event through ECI and print its directives. key=value gives a string attr, key:=json a
JSON value (key:=5, key:='{"a":1}').
${CONNECTION}`,
  query: `kumo query ECI RID NAME [key=value | key:=json ...]

Call a shared function of a ruleset installed in the cloud behind ECI, and print its result.
${CONNECTION}`,
  logs: `kumo logs [--follow] [--limit N]

Print the episode log of the --eci cloud, oldest first (with --json too). Needs an ECI tagged
system (the owner's, or a parent's on a child). --follow then prints each new episode until
Ctrl-C, starting with the last 10 unless --limit says otherwise.
${CONNECTION}`,
  'dead-letters': `kumo dead-letters

List the outgoing events of the --eci cloud that could never be delivered, newest first (an ECI
tagged system only).
${CONNECTION}`,
  help: `kumo help [COMMAND]

Print the usage, or what COMMAND does (kumo help eci, kumo help eci new).`,
};

/** The help for `words` (a command, or a command and its subcommand); undefined for no such command. */
export function helpFor(words: string[]): string | undefined {
  const key = words.join(' ');
  if (HELP[key]) return HELP[key];
  const group = Object.keys(HELP).filter((k) => k.startsWith(`${key} `));
  return words.length === 1 && group.length > 0 ? group.map((k) => HELP[k]).join('\n\n') : undefined;
}
