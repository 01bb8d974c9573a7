/* mitogen-ssh-options.c: settings of the ssh connection method
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include "mitogen-connection-options-private.h"
#include "mitogen-ssh-options.h"

/**
 * MitogenSshOptions:
 *
 * Settings of the ssh connection method
 * ([method@Mitogen.Router.ssh]): the host, the account, how to
 * authenticate and how to treat the server's host key. The connection
 * runs the OpenSSH client (`ssh`), which reads the user's
 * `~/.ssh/config` as usual.
 *
 * Options given through properties are passed to ssh as `-o` options,
 * after [property@Mitogen.SshOptions:ssh-args]: OpenSSH uses the first
 * value it sees for an option, so the extra arguments win over the
 * properties, and both win over ssh_config files. Options nobody set are
 * not passed, so that ssh_config decides them (e.g. compression and
 * keepalives).
 *
 * Without a password, ssh runs with `BatchMode=yes`: it never prompts, and
 * a server that wants a password fails the connection with
 * %MITOGEN_ERROR_PASSWORD_REQUIRED. With a password, ssh runs on a private
 * pseudo-terminal and the password is typed once; a second prompt fails
 * the connection with %MITOGEN_ERROR_BAD_PASSWORD (never a second try,
 * which could lock the account).
 *
 * The Python interpreter ([property@Mitogen.ConnectionOptions:python-path],
 * `python3` by default) is looked up by the remote shell.
 *
 * Since: 1.0
 */

struct _MitogenSshOptions
{
  MitogenConnectionOptions parent_instance;

  char *hostname;
  char *username;
  guint port;
  char *identity_file;
  char *password;
  MitogenHostKeyPolicy host_key_policy;
  char *known_hosts_file;
  char *ssh_path;
  char **ssh_args;
  gboolean compression;
  int keepalive_interval;
  int keepalive_count;
};

enum {
  PROP_0,
  PROP_HOSTNAME,
  PROP_USERNAME,
  PROP_PORT,
  PROP_IDENTITY_FILE,
  PROP_PASSWORD,
  PROP_HOST_KEY_POLICY,
  PROP_KNOWN_HOSTS_FILE,
  PROP_SSH_PATH,
  PROP_SSH_ARGS,
  PROP_COMPRESSION,
  PROP_KEEPALIVE_INTERVAL,
  PROP_KEEPALIVE_COUNT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_ENUM_TYPE (MitogenHostKeyPolicy, mitogen_host_key_policy,
                    G_DEFINE_ENUM_VALUE (MITOGEN_HOST_KEY_POLICY_ENFORCE, "enforce"),
                    G_DEFINE_ENUM_VALUE (MITOGEN_HOST_KEY_POLICY_ACCEPT_NEW, "accept-new"),
                    G_DEFINE_ENUM_VALUE (MITOGEN_HOST_KEY_POLICY_IGNORE, "ignore"))

G_DEFINE_FINAL_TYPE (MitogenSshOptions, mitogen_ssh_options, MITOGEN_TYPE_CONNECTION_OPTIONS)

static void
mitogen_ssh_options_finalize (GObject *object)
{
  MitogenSshOptions *self = MITOGEN_SSH_OPTIONS (object);

  g_free (self->hostname);
  g_free (self->username);
  g_free (self->identity_file);
  if (self->password != NULL)
    explicit_bzero (self->password, strlen (self->password));
  g_free (self->password);
  g_free (self->known_hosts_file);
  g_free (self->ssh_path);
  g_strfreev (self->ssh_args);

  G_OBJECT_CLASS (mitogen_ssh_options_parent_class)->finalize (object);
}

static void
mitogen_ssh_options_get_property (GObject    *object,
                                  guint       prop_id,
                                  GValue     *value,
                                  GParamSpec *pspec)
{
  MitogenSshOptions *self = MITOGEN_SSH_OPTIONS (object);

  switch (prop_id)
    {
    case PROP_HOSTNAME:
      g_value_set_string (value, self->hostname);
      break;
    case PROP_USERNAME:
      g_value_set_string (value, self->username);
      break;
    case PROP_PORT:
      g_value_set_uint (value, self->port);
      break;
    case PROP_IDENTITY_FILE:
      g_value_set_string (value, self->identity_file);
      break;
    case PROP_PASSWORD:
      g_value_set_string (value, self->password);
      break;
    case PROP_HOST_KEY_POLICY:
      g_value_set_enum (value, self->host_key_policy);
      break;
    case PROP_KNOWN_HOSTS_FILE:
      g_value_set_string (value, self->known_hosts_file);
      break;
    case PROP_SSH_PATH:
      g_value_set_string (value, self->ssh_path);
      break;
    case PROP_SSH_ARGS:
      g_value_set_boxed (value, self->ssh_args);
      break;
    case PROP_COMPRESSION:
      g_value_set_boolean (value, self->compression);
      break;
    case PROP_KEEPALIVE_INTERVAL:
      g_value_set_int (value, self->keepalive_interval);
      break;
    case PROP_KEEPALIVE_COUNT:
      g_value_set_int (value, self->keepalive_count);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_ssh_options_set_property (GObject      *object,
                                  guint         prop_id,
                                  const GValue *value,
                                  GParamSpec   *pspec)
{
  MitogenSshOptions *self = MITOGEN_SSH_OPTIONS (object);

  switch (prop_id)
    {
    case PROP_HOSTNAME:
      mitogen_ssh_options_set_hostname (self, g_value_get_string (value));
      break;
    case PROP_USERNAME:
      mitogen_ssh_options_set_username (self, g_value_get_string (value));
      break;
    case PROP_PORT:
      mitogen_ssh_options_set_port (self, g_value_get_uint (value));
      break;
    case PROP_IDENTITY_FILE:
      mitogen_ssh_options_set_identity_file (self, g_value_get_string (value));
      break;
    case PROP_PASSWORD:
      mitogen_ssh_options_set_password (self, g_value_get_string (value));
      break;
    case PROP_HOST_KEY_POLICY:
      mitogen_ssh_options_set_host_key_policy (self, g_value_get_enum (value));
      break;
    case PROP_KNOWN_HOSTS_FILE:
      mitogen_ssh_options_set_known_hosts_file (self, g_value_get_string (value));
      break;
    case PROP_SSH_PATH:
      mitogen_ssh_options_set_ssh_path (self, g_value_get_string (value));
      break;
    case PROP_SSH_ARGS:
      mitogen_ssh_options_set_ssh_args (self, g_value_get_boxed (value));
      break;
    case PROP_COMPRESSION:
      mitogen_ssh_options_set_compression (self, g_value_get_boolean (value));
      break;
    case PROP_KEEPALIVE_INTERVAL:
      mitogen_ssh_options_set_keepalive_interval (self, g_value_get_int (value));
      break;
    case PROP_KEEPALIVE_COUNT:
      mitogen_ssh_options_set_keepalive_count (self, g_value_get_int (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

/* The keyword arguments of upstream's mitogen.ssh.Options, for a
 * connection started by an intermediate context. */
static void
mitogen_ssh_options_add_proxy_kwargs (MitogenConnectionOptions *options,
                                      GVariantDict             *kwargs)
{
  MitogenSshOptions *self = MITOGEN_SSH_OPTIONS (options);
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);

  MITOGEN_CONNECTION_OPTIONS_CLASS (mitogen_ssh_options_parent_class)->add_proxy_kwargs (options, kwargs);

  if (self->hostname != NULL)
    g_variant_dict_insert (kwargs, "hostname", "s", self->hostname);
  if (self->username != NULL)
    g_variant_dict_insert (kwargs, "username", "s", self->username);
  if (self->port != 0)
    g_variant_dict_insert (kwargs, "port", "x", (gint64) self->port);
  if (self->identity_file != NULL)
    g_variant_dict_insert (kwargs, "identity_file", "s", self->identity_file);
  if (self->password != NULL)
    g_variant_dict_insert (kwargs, "password", "s", self->password);
  /* Upstream's "accept" answers ssh's question for unknown keys only:
   * what accept-new does. */
  g_variant_dict_insert (kwargs, "check_host_keys", "s",
                         self->host_key_policy == MITOGEN_HOST_KEY_POLICY_ENFORCE ? "enforce" :
                         self->host_key_policy == MITOGEN_HOST_KEY_POLICY_ACCEPT_NEW ? "accept" : "ignore");
  g_variant_dict_insert (kwargs, "ssh_path", "s", self->ssh_path);
  for (gsize i = 0; self->ssh_args != NULL && self->ssh_args[i] != NULL; i++)
    g_ptr_array_add (args, g_strdup (self->ssh_args[i]));
  if (self->known_hosts_file != NULL && self->host_key_policy != MITOGEN_HOST_KEY_POLICY_IGNORE)
    {
      g_ptr_array_add (args, g_strdup ("-o"));
      g_ptr_array_add (args, g_strdup_printf ("UserKnownHostsFile=%s", self->known_hosts_file));
    }
  if (args->len > 0)
    g_variant_dict_insert_value (kwargs, "ssh_args",
                                 g_variant_new_strv ((const char * const *) args->pdata, args->len));
  /* Upstream compresses and sends keepalives by default: say so when we
   * do not. */
  g_variant_dict_insert (kwargs, "compression", "b", self->compression);
  g_variant_dict_insert (kwargs, "keepalive_enabled", "b", self->keepalive_interval >= 0);
  if (self->keepalive_interval >= 0)
    g_variant_dict_insert (kwargs, "keepalive_interval", "x", (gint64) self->keepalive_interval);
  if (self->keepalive_count >= 0)
    g_variant_dict_insert (kwargs, "keepalive_count", "x", (gint64) self->keepalive_count);
}

static void
mitogen_ssh_options_class_init (MitogenSshOptionsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  MitogenConnectionOptionsClass *options_class = MITOGEN_CONNECTION_OPTIONS_CLASS (klass);

  object_class->finalize = mitogen_ssh_options_finalize;
  object_class->get_property = mitogen_ssh_options_get_property;
  object_class->set_property = mitogen_ssh_options_set_property;
  options_class->method_name = "ssh";
  options_class->add_proxy_kwargs = mitogen_ssh_options_add_proxy_kwargs;

  /**
   * MitogenSshOptions:hostname:
   *
   * The host to connect to: a name, an address, or a `Host` alias of the
   * ssh configuration.
   *
   * Since: 1.0
   */
  properties[PROP_HOSTNAME] =
    g_param_spec_string ("hostname", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenSshOptions:username:
   *
   * The account to log in as (`-l`), or %NULL for ssh's choice (the
   * configuration's `User`, else the local user name).
   *
   * Since: 1.0
   */
  properties[PROP_USERNAME] =
    g_param_spec_string ("username", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenSshOptions:port:
   *
   * The server's port (`-p`), or 0 for ssh's choice (the configuration's
   * `Port`, else 22).
   *
   * Since: 1.0
   */
  properties[PROP_PORT] =
    g_param_spec_uint ("port", NULL, NULL, 0, G_MAXUINT16, 0,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenSshOptions:identity-file:
   *
   * A private key file to authenticate with (`-i`). When set, it is the
   * only key ssh offers: `IdentitiesOnly=yes` and `IdentityAgent=none` keep
   * the agent's and the default keys out. Keys with a passphrase are not
   * supported (the connection fails with %MITOGEN_ERROR_CONNECT).
   *
   * Since: 1.0
   */
  properties[PROP_IDENTITY_FILE] =
    g_param_spec_string ("identity-file", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenSshOptions:password:
   *
   * The account's password, typed at ssh's password prompt (once), or
   * %NULL to rely on keys only.
   *
   * Since: 1.0
   */
  properties[PROP_PASSWORD] =
    g_param_spec_string ("password", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenSshOptions:host-key-policy:
   *
   * What to do with a host key that the known hosts files do not hold.
   *
   * Since: 1.0
   */
  properties[PROP_HOST_KEY_POLICY] =
    g_param_spec_enum ("host-key-policy", NULL, NULL,
                       MITOGEN_TYPE_HOST_KEY_POLICY, MITOGEN_HOST_KEY_POLICY_ENFORCE,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenSshOptions:known-hosts-file:
   *
   * The user's known hosts file (`UserKnownHostsFile`) instead of
   * `~/.ssh/known_hosts`, or %NULL for ssh's choice. Ignored under
   * %MITOGEN_HOST_KEY_POLICY_IGNORE.
   *
   * Since: 1.0
   */
  properties[PROP_KNOWN_HOSTS_FILE] =
    g_param_spec_string ("known-hosts-file", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenSshOptions:ssh-path:
   *
   * The OpenSSH client to run: a command looked up in `PATH`, or a path.
   *
   * Since: 1.0
   */
  properties[PROP_SSH_PATH] =
    g_param_spec_string ("ssh-path", NULL, NULL, "ssh",
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenSshOptions:ssh-args:
   *
   * Extra arguments for ssh, e.g. `{"-F", "/dev/null"}` or
   * `{"-o", "ProxyJump=bastion"}`. They come first on ssh's command line,
   * so they win over the options this object sets.
   *
   * Since: 1.0
   */
  properties[PROP_SSH_ARGS] =
    g_param_spec_boxed ("ssh-args", NULL, NULL, G_TYPE_STRV,
                        G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenSshOptions:compression:
   *
   * Whether to compress the connection (`-C`). When %FALSE nothing is
   * passed, and ssh_config decides (ssh's default is off).
   *
   * Since: 1.0
   */
  properties[PROP_COMPRESSION] =
    g_param_spec_boolean ("compression", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenSshOptions:keepalive-interval:
   *
   * Seconds of silence after which ssh checks that the server is alive
   * (`ServerAliveInterval`; 0 disables), or -1 to leave it to
   * ssh_config.
   *
   * Since: 1.0
   */
  properties[PROP_KEEPALIVE_INTERVAL] =
    g_param_spec_int ("keepalive-interval", NULL, NULL, -1, G_MAXINT, -1,
                      G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenSshOptions:keepalive-count:
   *
   * Unanswered checks after which ssh gives up (`ServerAliveCountMax`),
   * or -1 to leave it to ssh_config.
   *
   * Since: 1.0
   */
  properties[PROP_KEEPALIVE_COUNT] =
    g_param_spec_int ("keepalive-count", NULL, NULL, -1, G_MAXINT, -1,
                      G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
mitogen_ssh_options_init (MitogenSshOptions *self)
{
  self->ssh_path = g_strdup ("ssh");
  self->host_key_policy = MITOGEN_HOST_KEY_POLICY_ENFORCE;
  self->keepalive_interval = -1;
  self->keepalive_count = -1;
}

/**
 * mitogen_ssh_options_new:
 * @hostname: (nullable): the host to connect to
 *
 * Creates ssh options for @hostname, with the defaults otherwise.
 *
 * Returns: (transfer full): new options
 *
 * Since: 1.0
 */
MitogenSshOptions *
mitogen_ssh_options_new (const char *hostname)
{
  return g_object_new (MITOGEN_TYPE_SSH_OPTIONS, "hostname", hostname, NULL);
}

#define DEFINE_STRING_PROPERTY(name, PROP, fallback, param)                   \
  const char *                                                               \
  mitogen_ssh_options_get_##name (MitogenSshOptions *self)                   \
  {                                                                          \
    g_return_val_if_fail (MITOGEN_IS_SSH_OPTIONS (self), NULL);              \
    return self->name;                                                       \
  }                                                                          \
  void                                                                       \
  mitogen_ssh_options_set_##name (MitogenSshOptions *self,                   \
                                  const char        *param)                  \
  {                                                                          \
    g_return_if_fail (MITOGEN_IS_SSH_OPTIONS (self));                        \
    if (_mitogen_options_replace_string (&self->name, param ? param : fallback))              \
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP]);          \
  }

/**
 * mitogen_ssh_options_get_hostname:
 * @self: options
 *
 * Gets [property@Mitogen.SshOptions:hostname].
 *
 * Returns: (nullable): the host
 *
 * Since: 1.0
 */
/**
 * mitogen_ssh_options_set_hostname:
 * @self: options
 * @hostname: (nullable): the host
 *
 * Sets [property@Mitogen.SshOptions:hostname].
 *
 * Since: 1.0
 */
DEFINE_STRING_PROPERTY (hostname, PROP_HOSTNAME, NULL, hostname)

/**
 * mitogen_ssh_options_get_username:
 * @self: options
 *
 * Gets [property@Mitogen.SshOptions:username].
 *
 * Returns: (nullable): the account, or %NULL for ssh's choice
 *
 * Since: 1.0
 */
/**
 * mitogen_ssh_options_set_username:
 * @self: options
 * @username: (nullable): the account, or %NULL for ssh's choice
 *
 * Sets [property@Mitogen.SshOptions:username].
 *
 * Since: 1.0
 */
DEFINE_STRING_PROPERTY (username, PROP_USERNAME, NULL, username)

/**
 * mitogen_ssh_options_get_identity_file:
 * @self: options
 *
 * Gets [property@Mitogen.SshOptions:identity-file].
 *
 * Returns: (nullable) (type filename): the private key file, or %NULL
 *
 * Since: 1.0
 */
/**
 * mitogen_ssh_options_set_identity_file:
 * @self: options
 * @path: (nullable) (type filename): the private key file, or %NULL
 *
 * Sets [property@Mitogen.SshOptions:identity-file].
 *
 * Since: 1.0
 */
DEFINE_STRING_PROPERTY (identity_file, PROP_IDENTITY_FILE, NULL, path)

/**
 * mitogen_ssh_options_get_password:
 * @self: options
 *
 * Gets [property@Mitogen.SshOptions:password].
 *
 * Returns: (nullable): the password, or %NULL
 *
 * Since: 1.0
 */
/**
 * mitogen_ssh_options_set_password:
 * @self: options
 * @password: (nullable): the password, or %NULL
 *
 * Sets [property@Mitogen.SshOptions:password].
 *
 * Since: 1.0
 */
DEFINE_STRING_PROPERTY (password, PROP_PASSWORD, NULL, password)

/**
 * mitogen_ssh_options_get_known_hosts_file:
 * @self: options
 *
 * Gets [property@Mitogen.SshOptions:known-hosts-file].
 *
 * Returns: (nullable) (type filename): the known hosts file, or %NULL
 *
 * Since: 1.0
 */
/**
 * mitogen_ssh_options_set_known_hosts_file:
 * @self: options
 * @path: (nullable) (type filename): the known hosts file, or %NULL for
 *   ssh's choice
 *
 * Sets [property@Mitogen.SshOptions:known-hosts-file].
 *
 * Since: 1.0
 */
DEFINE_STRING_PROPERTY (known_hosts_file, PROP_KNOWN_HOSTS_FILE, NULL, path)

/**
 * mitogen_ssh_options_get_ssh_path:
 * @self: options
 *
 * Gets [property@Mitogen.SshOptions:ssh-path].
 *
 * Returns: (type filename): the ssh client
 *
 * Since: 1.0
 */
/**
 * mitogen_ssh_options_set_ssh_path:
 * @self: options
 * @ssh_path: (nullable) (type filename): the ssh client, or %NULL for `ssh`
 *
 * Sets [property@Mitogen.SshOptions:ssh-path].
 *
 * Since: 1.0
 */
DEFINE_STRING_PROPERTY (ssh_path, PROP_SSH_PATH, "ssh", ssh_path)

/**
 * mitogen_ssh_options_get_port:
 * @self: options
 *
 * Gets [property@Mitogen.SshOptions:port].
 *
 * Returns: the port, or 0 for ssh's choice
 *
 * Since: 1.0
 */
guint
mitogen_ssh_options_get_port (MitogenSshOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_SSH_OPTIONS (self), 0);

  return self->port;
}

/**
 * mitogen_ssh_options_set_port:
 * @self: options
 * @port: the port (1 to 65535), or 0 for ssh's choice
 *
 * Sets [property@Mitogen.SshOptions:port].
 *
 * Since: 1.0
 */
void
mitogen_ssh_options_set_port (MitogenSshOptions *self,
                              guint              port)
{
  g_return_if_fail (MITOGEN_IS_SSH_OPTIONS (self));
  g_return_if_fail (port <= G_MAXUINT16);

  if (self->port == port)
    return;
  self->port = port;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PORT]);
}

/**
 * mitogen_ssh_options_get_host_key_policy:
 * @self: options
 *
 * Gets [property@Mitogen.SshOptions:host-key-policy].
 *
 * Returns: the host key policy
 *
 * Since: 1.0
 */
MitogenHostKeyPolicy
mitogen_ssh_options_get_host_key_policy (MitogenSshOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_SSH_OPTIONS (self), MITOGEN_HOST_KEY_POLICY_ENFORCE);

  return self->host_key_policy;
}

/**
 * mitogen_ssh_options_set_host_key_policy:
 * @self: options
 * @policy: the host key policy
 *
 * Sets [property@Mitogen.SshOptions:host-key-policy].
 *
 * Since: 1.0
 */
void
mitogen_ssh_options_set_host_key_policy (MitogenSshOptions    *self,
                                         MitogenHostKeyPolicy  policy)
{
  g_return_if_fail (MITOGEN_IS_SSH_OPTIONS (self));
  g_return_if_fail (policy <= MITOGEN_HOST_KEY_POLICY_IGNORE);

  if (self->host_key_policy == policy)
    return;
  self->host_key_policy = policy;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HOST_KEY_POLICY]);
}

/**
 * mitogen_ssh_options_get_ssh_args:
 * @self: options
 *
 * Gets [property@Mitogen.SshOptions:ssh-args].
 *
 * Returns: (nullable) (array zero-terminated=1) (transfer none): the extra
 *   arguments, or %NULL
 *
 * Since: 1.0
 */
const char * const *
mitogen_ssh_options_get_ssh_args (MitogenSshOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_SSH_OPTIONS (self), NULL);

  return (const char * const *) self->ssh_args;
}

/**
 * mitogen_ssh_options_set_ssh_args:
 * @self: options
 * @ssh_args: (nullable) (array zero-terminated=1): extra arguments for ssh,
 *   or %NULL for none
 *
 * Sets [property@Mitogen.SshOptions:ssh-args].
 *
 * Since: 1.0
 */
void
mitogen_ssh_options_set_ssh_args (MitogenSshOptions  *self,
                                  const char * const *ssh_args)
{
  g_return_if_fail (MITOGEN_IS_SSH_OPTIONS (self));

  if (self->ssh_args == NULL && ssh_args == NULL)
    return;
  if (self->ssh_args != NULL && ssh_args != NULL &&
      g_strv_equal ((const char * const *) self->ssh_args, ssh_args))
    return;
  g_strfreev (self->ssh_args);
  self->ssh_args = g_strdupv ((char **) ssh_args);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SSH_ARGS]);
}

/**
 * mitogen_ssh_options_get_compression:
 * @self: options
 *
 * Gets [property@Mitogen.SshOptions:compression].
 *
 * Returns: whether `-C` is passed
 *
 * Since: 1.0
 */
gboolean
mitogen_ssh_options_get_compression (MitogenSshOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_SSH_OPTIONS (self), FALSE);

  return self->compression;
}

/**
 * mitogen_ssh_options_set_compression:
 * @self: options
 * @compression: whether to pass `-C`
 *
 * Sets [property@Mitogen.SshOptions:compression].
 *
 * Since: 1.0
 */
void
mitogen_ssh_options_set_compression (MitogenSshOptions *self,
                                     gboolean           compression)
{
  g_return_if_fail (MITOGEN_IS_SSH_OPTIONS (self));

  compression = !!compression;
  if (self->compression == compression)
    return;
  self->compression = compression;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_COMPRESSION]);
}

/**
 * mitogen_ssh_options_get_keepalive_interval:
 * @self: options
 *
 * Gets [property@Mitogen.SshOptions:keepalive-interval].
 *
 * Returns: the interval in seconds, or -1 when not set
 *
 * Since: 1.0
 */
int
mitogen_ssh_options_get_keepalive_interval (MitogenSshOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_SSH_OPTIONS (self), -1);

  return self->keepalive_interval;
}

/**
 * mitogen_ssh_options_set_keepalive_interval:
 * @self: options
 * @seconds: the interval, 0 to disable, or -1 to leave it to ssh_config
 *
 * Sets [property@Mitogen.SshOptions:keepalive-interval].
 *
 * Since: 1.0
 */
void
mitogen_ssh_options_set_keepalive_interval (MitogenSshOptions *self,
                                            int                seconds)
{
  g_return_if_fail (MITOGEN_IS_SSH_OPTIONS (self));
  g_return_if_fail (seconds >= -1);

  if (self->keepalive_interval == seconds)
    return;
  self->keepalive_interval = seconds;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_KEEPALIVE_INTERVAL]);
}

/**
 * mitogen_ssh_options_get_keepalive_count:
 * @self: options
 *
 * Gets [property@Mitogen.SshOptions:keepalive-count].
 *
 * Returns: the count, or -1 when not set
 *
 * Since: 1.0
 */
int
mitogen_ssh_options_get_keepalive_count (MitogenSshOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_SSH_OPTIONS (self), -1);

  return self->keepalive_count;
}

/**
 * mitogen_ssh_options_set_keepalive_count:
 * @self: options
 * @count: the count, or -1 to leave it to ssh_config
 *
 * Sets [property@Mitogen.SshOptions:keepalive-count].
 *
 * Since: 1.0
 */
void
mitogen_ssh_options_set_keepalive_count (MitogenSshOptions *self,
                                         int                count)
{
  g_return_if_fail (MITOGEN_IS_SSH_OPTIONS (self));
  g_return_if_fail (count >= -1);

  if (self->keepalive_count == count)
    return;
  self->keepalive_count = count;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_KEEPALIVE_COUNT]);
}
