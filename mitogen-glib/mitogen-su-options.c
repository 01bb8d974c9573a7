/* mitogen-su-options.c: settings of the su connection method
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <string.h>

#include "mitogen-connection-options-private.h"
#include "mitogen-su-options.h"

/**
 * MitogenSuOptions:
 *
 * Settings of the su connection method ([method@Mitogen.Router.su]):
 * the account to become and its password.
 *
 * The connection runs `su [-l] USER -c 'PYTHON -c ...'` with its standard
 * input, output and error all on a private pseudo-terminal in raw mode
 * (su insists on a terminal), so the whole connection, password prompt
 * and protocol, passes through it. Prompts are recognised in many
 * languages ("Password:", "Mot de passe :", "Passwort:", "密码："...). The
 * password is typed once: a second prompt, or su's authentication
 * failure, fails the connection with %MITOGEN_ERROR_BAD_PASSWORD, and a
 * prompt without a password set fails it with
 * %MITOGEN_ERROR_PASSWORD_REQUIRED. Python is looked up by the target
 * account's shell.
 *
 * Since: 1.0
 */

struct _MitogenSuOptions
{
  MitogenConnectionOptions parent_instance;

  char *username;
  char *su_path;
  char *password;
  gboolean login;
};

enum {
  PROP_0,
  PROP_USERNAME,
  PROP_SU_PATH,
  PROP_PASSWORD,
  PROP_LOGIN,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (MitogenSuOptions, mitogen_su_options, MITOGEN_TYPE_CONNECTION_OPTIONS)

static void
mitogen_su_options_finalize (GObject *object)
{
  MitogenSuOptions *self = MITOGEN_SU_OPTIONS (object);

  if (self->password != NULL)
    explicit_bzero (self->password, strlen (self->password));
  g_free (self->username);
  g_free (self->su_path);
  g_free (self->password);

  G_OBJECT_CLASS (mitogen_su_options_parent_class)->finalize (object);
}

static void
mitogen_su_options_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  MitogenSuOptions *self = MITOGEN_SU_OPTIONS (object);

  switch (prop_id)
    {
    case PROP_USERNAME:
      g_value_set_string (value, self->username);
      break;
    case PROP_SU_PATH:
      g_value_set_string (value, self->su_path);
      break;
    case PROP_PASSWORD:
      g_value_set_string (value, self->password);
      break;
    case PROP_LOGIN:
      g_value_set_boolean (value, self->login);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_su_options_set_property (GObject      *object,
                                 guint         prop_id,
                                 const GValue *value,
                                 GParamSpec   *pspec)
{
  MitogenSuOptions *self = MITOGEN_SU_OPTIONS (object);

  switch (prop_id)
    {
    case PROP_USERNAME:
      mitogen_su_options_set_username (self, g_value_get_string (value));
      break;
    case PROP_SU_PATH:
      mitogen_su_options_set_su_path (self, g_value_get_string (value));
      break;
    case PROP_PASSWORD:
      mitogen_su_options_set_password (self, g_value_get_string (value));
      break;
    case PROP_LOGIN:
      mitogen_su_options_set_login (self, g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

/* The keyword arguments of upstream's mitogen.su.Options, for a
 * connection started by an intermediate context. */
static void
mitogen_su_options_add_proxy_kwargs (MitogenConnectionOptions *options,
                                     GVariantDict             *kwargs)
{
  MitogenSuOptions *self = MITOGEN_SU_OPTIONS (options);

  MITOGEN_CONNECTION_OPTIONS_CLASS (mitogen_su_options_parent_class)->add_proxy_kwargs (options, kwargs);

  if (self->username != NULL)
    g_variant_dict_insert (kwargs, "username", "s", self->username);
  if (self->su_path != NULL)
    g_variant_dict_insert (kwargs, "su_path", "s", self->su_path);
  if (self->password != NULL)
    g_variant_dict_insert (kwargs, "password", "s", self->password);
}

static void
mitogen_su_options_class_init (MitogenSuOptionsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  MitogenConnectionOptionsClass *options_class = MITOGEN_CONNECTION_OPTIONS_CLASS (klass);

  object_class->finalize = mitogen_su_options_finalize;
  object_class->get_property = mitogen_su_options_get_property;
  object_class->set_property = mitogen_su_options_set_property;
  options_class->method_name = "su";
  options_class->add_proxy_kwargs = mitogen_su_options_add_proxy_kwargs;

  /**
   * MitogenSuOptions:username:
   *
   * The account to become, `root` by default.
   *
   * Since: 1.0
   */
  properties[PROP_USERNAME] =
    g_param_spec_string ("username", NULL, NULL, "root",
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenSuOptions:su-path:
   *
   * The su program to run: a command looked up in `PATH`, or a path.
   *
   * Since: 1.0
   */
  properties[PROP_SU_PATH] =
    g_param_spec_string ("su-path", NULL, NULL, "su",
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenSuOptions:password:
   *
   * The target account's password, typed at su's prompt once, or
   * %NULL.
   *
   * Since: 1.0
   */
  properties[PROP_PASSWORD] =
    g_param_spec_string ("password", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenSuOptions:login:
   *
   * Whether su starts a login session (`-l`): a clean environment and the
   * target account's login shell.
   *
   * Since: 1.0
   */
  properties[PROP_LOGIN] =
    g_param_spec_boolean ("login", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
mitogen_su_options_init (MitogenSuOptions *self)
{
  self->username = g_strdup ("root");
  self->su_path = g_strdup ("su");
}

/**
 * mitogen_su_options_new:
 * @username: (nullable): the account to become, or %NULL for `root`
 *
 * Creates su options for @username, with the defaults otherwise.
 *
 * Returns: (transfer full): new options
 *
 * Since: 1.0
 */
MitogenSuOptions *
mitogen_su_options_new (const char *username)
{
  return g_object_new (MITOGEN_TYPE_SU_OPTIONS, "username", username ? username : "root", NULL);
}

/**
 * mitogen_su_options_get_username:
 * @self: options
 *
 * Gets [property@Mitogen.SuOptions:username].
 *
 * Returns: (nullable): the value
 *
 * Since: 1.0
 */
const char *
mitogen_su_options_get_username (MitogenSuOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_SU_OPTIONS (self), NULL);

  return self->username;
}

/**
 * mitogen_su_options_set_username:
 * @self: options
 * @username: (nullable): the new value, or %NULL for `root`
 *
 * Sets [property@Mitogen.SuOptions:username].
 *
 * Since: 1.0
 */
void
mitogen_su_options_set_username (MitogenSuOptions *self,
                                 const char       *username)
{
  g_return_if_fail (MITOGEN_IS_SU_OPTIONS (self));

  if (_mitogen_options_replace_string (&self->username, username ? username : "root"))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_USERNAME]);
}

/**
 * mitogen_su_options_get_su_path:
 * @self: options
 *
 * Gets [property@Mitogen.SuOptions:su-path].
 *
 * Returns: (nullable) (type filename): the value
 *
 * Since: 1.0
 */
const char *
mitogen_su_options_get_su_path (MitogenSuOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_SU_OPTIONS (self), NULL);

  return self->su_path;
}

/**
 * mitogen_su_options_set_su_path:
 * @self: options
 * @su_path: (nullable) (type filename): the new value, or %NULL for `su`
 *
 * Sets [property@Mitogen.SuOptions:su-path].
 *
 * Since: 1.0
 */
void
mitogen_su_options_set_su_path (MitogenSuOptions *self,
                                const char       *su_path)
{
  g_return_if_fail (MITOGEN_IS_SU_OPTIONS (self));

  if (_mitogen_options_replace_string (&self->su_path, su_path ? su_path : "su"))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SU_PATH]);
}

/**
 * mitogen_su_options_get_password:
 * @self: options
 *
 * Gets [property@Mitogen.SuOptions:password].
 *
 * Returns: (nullable): the value
 *
 * Since: 1.0
 */
const char *
mitogen_su_options_get_password (MitogenSuOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_SU_OPTIONS (self), NULL);

  return self->password;
}

/**
 * mitogen_su_options_set_password:
 * @self: options
 * @password: (nullable): the new value, or %NULL
 *
 * Sets [property@Mitogen.SuOptions:password].
 *
 * Since: 1.0
 */
void
mitogen_su_options_set_password (MitogenSuOptions *self,
                                 const char       *password)
{
  g_return_if_fail (MITOGEN_IS_SU_OPTIONS (self));

  if (_mitogen_options_replace_string (&self->password, password ? password : NULL))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PASSWORD]);
}

/**
 * mitogen_su_options_get_login:
 * @self: options
 *
 * Gets [property@Mitogen.SuOptions:login].
 *
 * Returns: the value
 *
 * Since: 1.0
 */
gboolean
mitogen_su_options_get_login (MitogenSuOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_SU_OPTIONS (self), FALSE);

  return self->login;
}

/**
 * mitogen_su_options_set_login:
 * @self: options
 * @login: the new value
 *
 * Sets [property@Mitogen.SuOptions:login].
 *
 * Since: 1.0
 */
void
mitogen_su_options_set_login (MitogenSuOptions *self,
                              gboolean          login)
{
  g_return_if_fail (MITOGEN_IS_SU_OPTIONS (self));

  login = !!login;
  if (self->login == login)
    return;
  self->login = login;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOGIN]);
}
