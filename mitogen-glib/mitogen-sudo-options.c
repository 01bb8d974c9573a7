/* mitogen-sudo-options.c: settings of the sudo connection method
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <string.h>

#include "mitogen-connection-options-private.h"
#include "mitogen-sudo-options.h"

/**
 * MitogenSudoOptions:
 *
 * Settings of the sudo connection method ([method@Mitogen.Router.sudo]):
 * the account to become and the password to type, if sudo asks for one.
 *
 * The connection runs `sudo -u USER [FLAGS] -p PROMPT -- PYTHON -c ...`,
 * where PROMPT is a random token of this connection: sudo prints exactly
 * that when it wants a password, in any language. sudo runs with a private
 * pseudo-terminal as its controlling terminal; the data flows over a
 * socket pair. The password is typed once: a second prompt fails the
 * connection with %MITOGEN_ERROR_BAD_PASSWORD (never a second try, which
 * could lock the account), and a prompt without a password set fails it
 * with %MITOGEN_ERROR_PASSWORD_REQUIRED.
 *
 * Since: 1.0
 */

struct _MitogenSudoOptions
{
  MitogenConnectionOptions parent_instance;

  char *username;
  char *sudo_path;
  char *password;
  char *selinux_role;
  char *selinux_type;
  gboolean preserve_env;
  gboolean set_home;
  gboolean login;
  char **sudo_args;
};

enum {
  PROP_0,
  PROP_USERNAME,
  PROP_SUDO_PATH,
  PROP_PASSWORD,
  PROP_SELINUX_ROLE,
  PROP_SELINUX_TYPE,
  PROP_PRESERVE_ENV,
  PROP_SET_HOME,
  PROP_LOGIN,
  PROP_SUDO_ARGS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (MitogenSudoOptions, mitogen_sudo_options, MITOGEN_TYPE_CONNECTION_OPTIONS)

static void
mitogen_sudo_options_finalize (GObject *object)
{
  MitogenSudoOptions *self = MITOGEN_SUDO_OPTIONS (object);

  if (self->password != NULL)
    explicit_bzero (self->password, strlen (self->password));
  g_free (self->username);
  g_free (self->sudo_path);
  g_free (self->password);
  g_free (self->selinux_role);
  g_free (self->selinux_type);
  g_strfreev (self->sudo_args);

  G_OBJECT_CLASS (mitogen_sudo_options_parent_class)->finalize (object);
}

static void
mitogen_sudo_options_get_property (GObject    *object,
                                   guint       prop_id,
                                   GValue     *value,
                                   GParamSpec *pspec)
{
  MitogenSudoOptions *self = MITOGEN_SUDO_OPTIONS (object);

  switch (prop_id)
    {
    case PROP_USERNAME:
      g_value_set_string (value, self->username);
      break;
    case PROP_SUDO_PATH:
      g_value_set_string (value, self->sudo_path);
      break;
    case PROP_PASSWORD:
      g_value_set_string (value, self->password);
      break;
    case PROP_SELINUX_ROLE:
      g_value_set_string (value, self->selinux_role);
      break;
    case PROP_SELINUX_TYPE:
      g_value_set_string (value, self->selinux_type);
      break;
    case PROP_PRESERVE_ENV:
      g_value_set_boolean (value, self->preserve_env);
      break;
    case PROP_SET_HOME:
      g_value_set_boolean (value, self->set_home);
      break;
    case PROP_LOGIN:
      g_value_set_boolean (value, self->login);
      break;
    case PROP_SUDO_ARGS:
      g_value_set_boxed (value, self->sudo_args);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_sudo_options_set_property (GObject      *object,
                                   guint         prop_id,
                                   const GValue *value,
                                   GParamSpec   *pspec)
{
  MitogenSudoOptions *self = MITOGEN_SUDO_OPTIONS (object);

  switch (prop_id)
    {
    case PROP_USERNAME:
      mitogen_sudo_options_set_username (self, g_value_get_string (value));
      break;
    case PROP_SUDO_PATH:
      mitogen_sudo_options_set_sudo_path (self, g_value_get_string (value));
      break;
    case PROP_PASSWORD:
      mitogen_sudo_options_set_password (self, g_value_get_string (value));
      break;
    case PROP_SELINUX_ROLE:
      mitogen_sudo_options_set_selinux_role (self, g_value_get_string (value));
      break;
    case PROP_SELINUX_TYPE:
      mitogen_sudo_options_set_selinux_type (self, g_value_get_string (value));
      break;
    case PROP_PRESERVE_ENV:
      mitogen_sudo_options_set_preserve_env (self, g_value_get_boolean (value));
      break;
    case PROP_SET_HOME:
      mitogen_sudo_options_set_set_home (self, g_value_get_boolean (value));
      break;
    case PROP_LOGIN:
      mitogen_sudo_options_set_login (self, g_value_get_boolean (value));
      break;
    case PROP_SUDO_ARGS:
      mitogen_sudo_options_set_sudo_args (self, g_value_get_boxed (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

/* The keyword arguments of upstream's mitogen.sudo.Options, for a
 * connection started by an intermediate context. */
static void
mitogen_sudo_options_add_proxy_kwargs (MitogenConnectionOptions *options,
                                       GVariantDict             *kwargs)
{
  MitogenSudoOptions *self = MITOGEN_SUDO_OPTIONS (options);

  MITOGEN_CONNECTION_OPTIONS_CLASS (mitogen_sudo_options_parent_class)->add_proxy_kwargs (options, kwargs);

  if (self->username != NULL)
    g_variant_dict_insert (kwargs, "username", "s", self->username);
  if (self->sudo_path != NULL)
    g_variant_dict_insert (kwargs, "sudo_path", "s", self->sudo_path);
  if (self->password != NULL)
    g_variant_dict_insert (kwargs, "password", "s", self->password);
  if (self->selinux_role != NULL)
    g_variant_dict_insert (kwargs, "selinux_role", "s", self->selinux_role);
  if (self->selinux_type != NULL)
    g_variant_dict_insert (kwargs, "selinux_type", "s", self->selinux_type);
  g_variant_dict_insert (kwargs, "preserve_env", "b", self->preserve_env);
  g_variant_dict_insert (kwargs, "set_home", "b", self->set_home);
  g_variant_dict_insert (kwargs, "login", "b", self->login);
  if (self->sudo_args != NULL)
    g_variant_dict_insert_value (kwargs, "sudo_args", g_variant_new_strv ((const char * const *) self->sudo_args, -1));
}

static void
mitogen_sudo_options_class_init (MitogenSudoOptionsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  MitogenConnectionOptionsClass *options_class = MITOGEN_CONNECTION_OPTIONS_CLASS (klass);

  object_class->finalize = mitogen_sudo_options_finalize;
  object_class->get_property = mitogen_sudo_options_get_property;
  object_class->set_property = mitogen_sudo_options_set_property;
  options_class->method_name = "sudo";
  options_class->add_proxy_kwargs = mitogen_sudo_options_add_proxy_kwargs;

  /**
   * MitogenSudoOptions:username:
   *
   * The account to become, `root` by default.
   *
   * Since: 1.0
   */
  properties[PROP_USERNAME] =
    g_param_spec_string ("username", NULL, NULL, "root",
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenSudoOptions:sudo-path:
   *
   * The sudo program to run: a command looked up in `PATH`, or a path.
   *
   * Since: 1.0
   */
  properties[PROP_SUDO_PATH] =
    g_param_spec_string ("sudo-path", NULL, NULL, "sudo",
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenSudoOptions:password:
   *
   * The password of the calling account (sudo asks for the caller's
   * own password), typed at sudo's prompt once, or %NULL.
   *
   * Since: 1.0
   */
  properties[PROP_PASSWORD] =
    g_param_spec_string ("password", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenSudoOptions:selinux-role:
   *
   * The SELinux role of the new context (`-r`), or %NULL.
   *
   * Since: 1.0
   */
  properties[PROP_SELINUX_ROLE] =
    g_param_spec_string ("selinux-role", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenSudoOptions:selinux-type:
   *
   * The SELinux type of the new context (`-t`), or %NULL.
   *
   * Since: 1.0
   */
  properties[PROP_SELINUX_TYPE] =
    g_param_spec_string ("selinux-type", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenSudoOptions:preserve-env:
   *
   * Whether to keep the caller's environment (`-E`).
   *
   * Since: 1.0
   */
  properties[PROP_PRESERVE_ENV] =
    g_param_spec_boolean ("preserve-env", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenSudoOptions:set-home:
   *
   * Whether to set `HOME` to the target account's home (`-H`).
   *
   * Since: 1.0
   */
  properties[PROP_SET_HOME] =
    g_param_spec_boolean ("set-home", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenSudoOptions:login:
   *
   * Whether to run the target account's login shell, which then starts
   * Python (`-i`).
   *
   * Since: 1.0
   */
  properties[PROP_LOGIN] =
    g_param_spec_boolean ("login", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenSudoOptions:sudo-args:
   *
   * Extra arguments for sudo, placed before the ones this object sets, e.g.
   * `{"-D", "/tmp"}`.
   *
   * Since: 1.0
   */
  properties[PROP_SUDO_ARGS] =
    g_param_spec_boxed ("sudo-args", NULL, NULL, G_TYPE_STRV,
                        G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
mitogen_sudo_options_init (MitogenSudoOptions *self)
{
  self->username = g_strdup ("root");
  self->sudo_path = g_strdup ("sudo");
}

/**
 * mitogen_sudo_options_new:
 * @username: (nullable): the account to become, or %NULL for `root`
 *
 * Creates sudo options for @username, with the defaults otherwise.
 *
 * Returns: (transfer full): new options
 *
 * Since: 1.0
 */
MitogenSudoOptions *
mitogen_sudo_options_new (const char *username)
{
  return g_object_new (MITOGEN_TYPE_SUDO_OPTIONS, "username", username ? username : "root", NULL);
}

/**
 * mitogen_sudo_options_get_username:
 * @self: options
 *
 * Gets [property@Mitogen.SudoOptions:username].
 *
 * Returns: (nullable): the value
 *
 * Since: 1.0
 */
const char *
mitogen_sudo_options_get_username (MitogenSudoOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_SUDO_OPTIONS (self), NULL);

  return self->username;
}

/**
 * mitogen_sudo_options_set_username:
 * @self: options
 * @username: (nullable): the new value, or %NULL for `root`
 *
 * Sets [property@Mitogen.SudoOptions:username].
 *
 * Since: 1.0
 */
void
mitogen_sudo_options_set_username (MitogenSudoOptions *self,
                                   const char         *username)
{
  g_return_if_fail (MITOGEN_IS_SUDO_OPTIONS (self));

  if (_mitogen_options_replace_string (&self->username, username ? username : "root"))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_USERNAME]);
}

/**
 * mitogen_sudo_options_get_sudo_path:
 * @self: options
 *
 * Gets [property@Mitogen.SudoOptions:sudo-path].
 *
 * Returns: (nullable) (type filename): the value
 *
 * Since: 1.0
 */
const char *
mitogen_sudo_options_get_sudo_path (MitogenSudoOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_SUDO_OPTIONS (self), NULL);

  return self->sudo_path;
}

/**
 * mitogen_sudo_options_set_sudo_path:
 * @self: options
 * @sudo_path: (nullable) (type filename): the new value, or %NULL for `sudo`
 *
 * Sets [property@Mitogen.SudoOptions:sudo-path].
 *
 * Since: 1.0
 */
void
mitogen_sudo_options_set_sudo_path (MitogenSudoOptions *self,
                                    const char         *sudo_path)
{
  g_return_if_fail (MITOGEN_IS_SUDO_OPTIONS (self));

  if (_mitogen_options_replace_string (&self->sudo_path, sudo_path ? sudo_path : "sudo"))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SUDO_PATH]);
}

/**
 * mitogen_sudo_options_get_password:
 * @self: options
 *
 * Gets [property@Mitogen.SudoOptions:password].
 *
 * Returns: (nullable): the value
 *
 * Since: 1.0
 */
const char *
mitogen_sudo_options_get_password (MitogenSudoOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_SUDO_OPTIONS (self), NULL);

  return self->password;
}

/**
 * mitogen_sudo_options_set_password:
 * @self: options
 * @password: (nullable): the new value, or %NULL
 *
 * Sets [property@Mitogen.SudoOptions:password].
 *
 * Since: 1.0
 */
void
mitogen_sudo_options_set_password (MitogenSudoOptions *self,
                                   const char         *password)
{
  g_return_if_fail (MITOGEN_IS_SUDO_OPTIONS (self));

  if (_mitogen_options_replace_string (&self->password, password ? password : NULL))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PASSWORD]);
}

/**
 * mitogen_sudo_options_get_selinux_role:
 * @self: options
 *
 * Gets [property@Mitogen.SudoOptions:selinux-role].
 *
 * Returns: (nullable): the value
 *
 * Since: 1.0
 */
const char *
mitogen_sudo_options_get_selinux_role (MitogenSudoOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_SUDO_OPTIONS (self), NULL);

  return self->selinux_role;
}

/**
 * mitogen_sudo_options_set_selinux_role:
 * @self: options
 * @role: (nullable): the new value, or %NULL
 *
 * Sets [property@Mitogen.SudoOptions:selinux-role].
 *
 * Since: 1.0
 */
void
mitogen_sudo_options_set_selinux_role (MitogenSudoOptions *self,
                                       const char         *role)
{
  g_return_if_fail (MITOGEN_IS_SUDO_OPTIONS (self));

  if (_mitogen_options_replace_string (&self->selinux_role, role ? role : NULL))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SELINUX_ROLE]);
}

/**
 * mitogen_sudo_options_get_selinux_type:
 * @self: options
 *
 * Gets [property@Mitogen.SudoOptions:selinux-type].
 *
 * Returns: (nullable): the value
 *
 * Since: 1.0
 */
const char *
mitogen_sudo_options_get_selinux_type (MitogenSudoOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_SUDO_OPTIONS (self), NULL);

  return self->selinux_type;
}

/**
 * mitogen_sudo_options_set_selinux_type:
 * @self: options
 * @type: (nullable): the new value, or %NULL
 *
 * Sets [property@Mitogen.SudoOptions:selinux-type].
 *
 * Since: 1.0
 */
void
mitogen_sudo_options_set_selinux_type (MitogenSudoOptions *self,
                                       const char         *type)
{
  g_return_if_fail (MITOGEN_IS_SUDO_OPTIONS (self));

  if (_mitogen_options_replace_string (&self->selinux_type, type ? type : NULL))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SELINUX_TYPE]);
}

/**
 * mitogen_sudo_options_get_preserve_env:
 * @self: options
 *
 * Gets [property@Mitogen.SudoOptions:preserve-env].
 *
 * Returns: the value
 *
 * Since: 1.0
 */
gboolean
mitogen_sudo_options_get_preserve_env (MitogenSudoOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_SUDO_OPTIONS (self), FALSE);

  return self->preserve_env;
}

/**
 * mitogen_sudo_options_set_preserve_env:
 * @self: options
 * @preserve_env: the new value
 *
 * Sets [property@Mitogen.SudoOptions:preserve-env].
 *
 * Since: 1.0
 */
void
mitogen_sudo_options_set_preserve_env (MitogenSudoOptions *self,
                                       gboolean            preserve_env)
{
  g_return_if_fail (MITOGEN_IS_SUDO_OPTIONS (self));

  preserve_env = !!preserve_env;
  if (self->preserve_env == preserve_env)
    return;
  self->preserve_env = preserve_env;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PRESERVE_ENV]);
}

/**
 * mitogen_sudo_options_get_set_home:
 * @self: options
 *
 * Gets [property@Mitogen.SudoOptions:set-home].
 *
 * Returns: the value
 *
 * Since: 1.0
 */
gboolean
mitogen_sudo_options_get_set_home (MitogenSudoOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_SUDO_OPTIONS (self), FALSE);

  return self->set_home;
}

/**
 * mitogen_sudo_options_set_set_home:
 * @self: options
 * @set_home: the new value
 *
 * Sets [property@Mitogen.SudoOptions:set-home].
 *
 * Since: 1.0
 */
void
mitogen_sudo_options_set_set_home (MitogenSudoOptions *self,
                                   gboolean            set_home)
{
  g_return_if_fail (MITOGEN_IS_SUDO_OPTIONS (self));

  set_home = !!set_home;
  if (self->set_home == set_home)
    return;
  self->set_home = set_home;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SET_HOME]);
}

/**
 * mitogen_sudo_options_get_login:
 * @self: options
 *
 * Gets [property@Mitogen.SudoOptions:login].
 *
 * Returns: the value
 *
 * Since: 1.0
 */
gboolean
mitogen_sudo_options_get_login (MitogenSudoOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_SUDO_OPTIONS (self), FALSE);

  return self->login;
}

/**
 * mitogen_sudo_options_set_login:
 * @self: options
 * @login: the new value
 *
 * Sets [property@Mitogen.SudoOptions:login].
 *
 * Since: 1.0
 */
void
mitogen_sudo_options_set_login (MitogenSudoOptions *self,
                                gboolean            login)
{
  g_return_if_fail (MITOGEN_IS_SUDO_OPTIONS (self));

  login = !!login;
  if (self->login == login)
    return;
  self->login = login;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOGIN]);
}

/**
 * mitogen_sudo_options_get_sudo_args:
 * @self: options
 *
 * Gets [property@Mitogen.SudoOptions:sudo-args].
 *
 * Returns: (nullable) (array zero-terminated=1) (transfer none): the extra
 *   arguments, or %NULL
 *
 * Since: 1.0
 */
const char * const *
mitogen_sudo_options_get_sudo_args (MitogenSudoOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_SUDO_OPTIONS (self), NULL);

  return (const char * const *) self->sudo_args;
}

/**
 * mitogen_sudo_options_set_sudo_args:
 * @self: options
 * @sudo_args: (nullable) (array zero-terminated=1): extra arguments, or %NULL
 *
 * Sets [property@Mitogen.SudoOptions:sudo-args].
 *
 * Since: 1.0
 */
void
mitogen_sudo_options_set_sudo_args (MitogenSudoOptions *self,
                                    const char * const *sudo_args)
{
  g_return_if_fail (MITOGEN_IS_SUDO_OPTIONS (self));

  if (self->sudo_args == NULL && sudo_args == NULL)
    return;
  if (self->sudo_args != NULL && sudo_args != NULL &&
      g_strv_equal ((const char * const *) self->sudo_args, sudo_args))
    return;
  g_strfreev (self->sudo_args);
  self->sudo_args = g_strdupv ((char **) sudo_args);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SUDO_ARGS]);
}
