/* mitogen-doas-options.c: settings of the doas connection method
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <string.h>

#include "mitogen-connection-options-private.h"
#include "mitogen-doas-options.h"

/**
 * MitogenDoasOptions:
 *
 * Settings of the doas connection method ([method@Mitogen.Router.doas]):
 * the account to become and the password to type, if doas asks for one.
 *
 * The connection runs `doas -u USER PYTHON -c ...` with a private
 * pseudo-terminal as its controlling terminal (doas prompts there) and the
 * data on a socket pair. The password is typed once: a second prompt, or
 * doas's "Authentication failed", fails the connection with
 * %MITOGEN_ERROR_BAD_PASSWORD, and a prompt without a password set fails
 * it with %MITOGEN_ERROR_PASSWORD_REQUIRED.
 *
 * Since: 1.0
 */

struct _MitogenDoasOptions
{
  MitogenConnectionOptions parent_instance;

  char *username;
  char *doas_path;
  char *password;
};

enum {
  PROP_0,
  PROP_USERNAME,
  PROP_DOAS_PATH,
  PROP_PASSWORD,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (MitogenDoasOptions, mitogen_doas_options, MITOGEN_TYPE_CONNECTION_OPTIONS)

static void
mitogen_doas_options_finalize (GObject *object)
{
  MitogenDoasOptions *self = MITOGEN_DOAS_OPTIONS (object);

  if (self->password != NULL)
    explicit_bzero (self->password, strlen (self->password));
  g_free (self->username);
  g_free (self->doas_path);
  g_free (self->password);

  G_OBJECT_CLASS (mitogen_doas_options_parent_class)->finalize (object);
}

static void
mitogen_doas_options_get_property (GObject    *object,
                                   guint       prop_id,
                                   GValue     *value,
                                   GParamSpec *pspec)
{
  MitogenDoasOptions *self = MITOGEN_DOAS_OPTIONS (object);

  switch (prop_id)
    {
    case PROP_USERNAME:
      g_value_set_string (value, self->username);
      break;
    case PROP_DOAS_PATH:
      g_value_set_string (value, self->doas_path);
      break;
    case PROP_PASSWORD:
      g_value_set_string (value, self->password);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_doas_options_set_property (GObject      *object,
                                   guint         prop_id,
                                   const GValue *value,
                                   GParamSpec   *pspec)
{
  MitogenDoasOptions *self = MITOGEN_DOAS_OPTIONS (object);

  switch (prop_id)
    {
    case PROP_USERNAME:
      mitogen_doas_options_set_username (self, g_value_get_string (value));
      break;
    case PROP_DOAS_PATH:
      mitogen_doas_options_set_doas_path (self, g_value_get_string (value));
      break;
    case PROP_PASSWORD:
      mitogen_doas_options_set_password (self, g_value_get_string (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

/* The keyword arguments of upstream's mitogen.doas.Options, for a
 * connection started by an intermediate context. */
static void
mitogen_doas_options_add_proxy_kwargs (MitogenConnectionOptions *options,
                                       GVariantDict             *kwargs)
{
  MitogenDoasOptions *self = MITOGEN_DOAS_OPTIONS (options);

  MITOGEN_CONNECTION_OPTIONS_CLASS (mitogen_doas_options_parent_class)->add_proxy_kwargs (options, kwargs);

  if (self->username != NULL)
    g_variant_dict_insert (kwargs, "username", "s", self->username);
  if (self->doas_path != NULL)
    g_variant_dict_insert (kwargs, "doas_path", "s", self->doas_path);
  if (self->password != NULL)
    g_variant_dict_insert (kwargs, "password", "s", self->password);
}

static void
mitogen_doas_options_class_init (MitogenDoasOptionsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  MitogenConnectionOptionsClass *options_class = MITOGEN_CONNECTION_OPTIONS_CLASS (klass);

  object_class->finalize = mitogen_doas_options_finalize;
  object_class->get_property = mitogen_doas_options_get_property;
  object_class->set_property = mitogen_doas_options_set_property;
  options_class->method_name = "doas";
  options_class->add_proxy_kwargs = mitogen_doas_options_add_proxy_kwargs;

  /**
   * MitogenDoasOptions:username:
   *
   * The account to become, `root` by default.
   *
   * Since: 1.0
   */
  properties[PROP_USERNAME] =
    g_param_spec_string ("username", NULL, NULL, "root",
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenDoasOptions:doas-path:
   *
   * The doas program to run: a command looked up in `PATH`, or a path.
   *
   * Since: 1.0
   */
  properties[PROP_DOAS_PATH] =
    g_param_spec_string ("doas-path", NULL, NULL, "doas",
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenDoasOptions:password:
   *
   * The password of the calling account (doas asks for the caller's
   * own password), typed at doas's prompt once, or %NULL.
   *
   * Since: 1.0
   */
  properties[PROP_PASSWORD] =
    g_param_spec_string ("password", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
mitogen_doas_options_init (MitogenDoasOptions *self)
{
  self->username = g_strdup ("root");
  self->doas_path = g_strdup ("doas");
}

/**
 * mitogen_doas_options_new:
 * @username: (nullable): the account to become, or %NULL for `root`
 *
 * Creates doas options for @username, with the defaults otherwise.
 *
 * Returns: (transfer full): new options
 *
 * Since: 1.0
 */
MitogenDoasOptions *
mitogen_doas_options_new (const char *username)
{
  return g_object_new (MITOGEN_TYPE_DOAS_OPTIONS, "username", username ? username : "root", NULL);
}

/**
 * mitogen_doas_options_get_username:
 * @self: options
 *
 * Gets [property@Mitogen.DoasOptions:username].
 *
 * Returns: (nullable): the value
 *
 * Since: 1.0
 */
const char *
mitogen_doas_options_get_username (MitogenDoasOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_DOAS_OPTIONS (self), NULL);

  return self->username;
}

/**
 * mitogen_doas_options_set_username:
 * @self: options
 * @username: (nullable): the new value, or %NULL for `root`
 *
 * Sets [property@Mitogen.DoasOptions:username].
 *
 * Since: 1.0
 */
void
mitogen_doas_options_set_username (MitogenDoasOptions *self,
                                   const char         *username)
{
  g_return_if_fail (MITOGEN_IS_DOAS_OPTIONS (self));

  if (_mitogen_options_replace_string (&self->username, username ? username : "root"))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_USERNAME]);
}

/**
 * mitogen_doas_options_get_doas_path:
 * @self: options
 *
 * Gets [property@Mitogen.DoasOptions:doas-path].
 *
 * Returns: (nullable) (type filename): the value
 *
 * Since: 1.0
 */
const char *
mitogen_doas_options_get_doas_path (MitogenDoasOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_DOAS_OPTIONS (self), NULL);

  return self->doas_path;
}

/**
 * mitogen_doas_options_set_doas_path:
 * @self: options
 * @doas_path: (nullable) (type filename): the new value, or %NULL for `doas`
 *
 * Sets [property@Mitogen.DoasOptions:doas-path].
 *
 * Since: 1.0
 */
void
mitogen_doas_options_set_doas_path (MitogenDoasOptions *self,
                                    const char         *doas_path)
{
  g_return_if_fail (MITOGEN_IS_DOAS_OPTIONS (self));

  if (_mitogen_options_replace_string (&self->doas_path, doas_path ? doas_path : "doas"))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DOAS_PATH]);
}

/**
 * mitogen_doas_options_get_password:
 * @self: options
 *
 * Gets [property@Mitogen.DoasOptions:password].
 *
 * Returns: (nullable): the value
 *
 * Since: 1.0
 */
const char *
mitogen_doas_options_get_password (MitogenDoasOptions *self)
{
  g_return_val_if_fail (MITOGEN_IS_DOAS_OPTIONS (self), NULL);

  return self->password;
}

/**
 * mitogen_doas_options_set_password:
 * @self: options
 * @password: (nullable): the new value, or %NULL
 *
 * Sets [property@Mitogen.DoasOptions:password].
 *
 * Since: 1.0
 */
void
mitogen_doas_options_set_password (MitogenDoasOptions *self,
                                   const char         *password)
{
  g_return_if_fail (MITOGEN_IS_DOAS_OPTIONS (self));

  if (_mitogen_options_replace_string (&self->password, password ? password : NULL))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PASSWORD]);
}
