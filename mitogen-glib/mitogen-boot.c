/* mitogen-boot.c: what a new child is started with and sent
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <unistd.h>
#include <zlib.h>

#include "mitogen-connection-private.h"
#include "mitogen-error.h"
#include "mitogen-log.h"
#include "mitogen-router-private.h"

/* The upstream child's first stage, written from the protocol's
 * description: the forked helper reads the compressed preamble from the
 * transport and hands the source to a fresh interpreter through a pipe on
 * its fd 0, and a second copy on fd 101; the original transport moves to
 * fd 100. @LEN@ and @NAME@ are substituted. */
static const char upstream_first_stage[] =
  "import os,sys,zlib\n"
  "R,W=os.pipe()\n"
  "r,w=os.pipe()\n"
  "if os.fork():\n"
  " os.dup2(0,100);os.dup2(R,0);os.dup2(r,101)\n"
  " for f in(R,r,W,w):os.close(f)\n"
  " os.environ['ARGV0']=sys.executable\n"
  " os.execl(sys.executable,sys.executable+'(mitogen:@NAME@)')\n"
  "os.write(1,b'MITO000\\n')\n"
  "n=@LEN@;b=b''\n"
  "while len(b)<n:\n"
  " c=os.read(0,n-len(b))\n"
  " if not c:sys.exit(1)\n"
  " b+=c\n"
  "C=zlib.decompress(b)\n"
  "for f in(W,w):\n"
  " v=memoryview(C)\n"
  " while v:v=v[os.write(f,v):]\n"
  " os.close(f)\n"
  "os.write(1,b'MITO001\\n')\n"
  "os.close(2)\n";

void
_mitogen_boot_plan_free (MitogenBootPlan *plan)
{
  if (plan == NULL)
    return;
  g_strfreev (plan->argv);
  g_clear_pointer (&plan->preamble, g_bytes_unref);
  g_free (plan->method);
  g_free (plan->compiled_for);
  g_free (plan);
}

static GBytes *
zlib_compress (const char  *data,
          gsize        len,
          GError     **error)
{
  uLongf out_len = compressBound (len);
  guint8 *out = g_malloc (out_len);

  if (compress2 (out, &out_len, (const Bytef *) data, len, 9) != Z_OK)
    {
      g_free (out);
      g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_FAILED, "zlib compression failed");
      return NULL;
    }
  return g_bytes_new_take (g_realloc (out, out_len), out_len);
}

/* A name safe inside a Python string literal and a process title. */
static char *
remote_name (void)
{
  char host[256] = "localhost";
  g_autofree char *name = NULL;

  gethostname (host, sizeof host - 1);
  name = g_strdup_printf ("%s@%s:%d", g_get_user_name (), host, (int) getpid ());
  g_strcanon (name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@:._-", '_');
  return g_steal_pointer (&name);
}

static char *
replace (const char *text,
         const char *placeholder,
         const char *value)
{
  g_auto(GStrv) parts = g_strsplit (text, placeholder, -1);

  return g_strjoinv (value, parts);
}

MitogenBootPlan *
_mitogen_boot_plan_new_upstream (MitogenRouter            *router,
                                 MitogenConnectionOptions *options,
                                 guint32                   context_id,
                                 GError                  **error)
{
  const char *core_path = mitogen_connection_options_get_upstream_core_path (options);
  g_autofree char *core = NULL;
  g_autofree char *config = NULL;
  g_autofree char *source = NULL;
  g_autofree char *len_text = NULL;
  g_autofree char *name = remote_name ();
  g_autofree char *stage1 = NULL;
  g_autofree char *stage1_len = NULL;
  g_autoptr(GBytes) preamble = NULL;
  gsize core_len;
  MitogenBootPlan *plan;
  int log_level;

  if (!g_file_get_contents (core_path, &core, &core_len, error))
    {
      g_prefix_error (error, "Could not read the upstream Mitogen core: ");
      return NULL;
    }

  log_level = (mitogen_connection_options_get_debug (options) || mitogen_get_debug ())
              ? 10 : _mitogen_router_get_child_log_level (router);
  config = g_strdup_printf ("{'parent_ids': [%u], 'context_id': %u, 'debug': False, "
                            "'profiling': False, 'unidirectional': False, 'log_level': %d, "
                            "'whitelist': [''], 'blacklist': [], 'max_message_size': %" G_GUINT64_FORMAT ", "
                            "'version': (0, 3, 3)}",
                            mitogen_router_get_context_id (router), context_id, log_level,
                            mitogen_router_get_max_message_size (router));
  /* The child strips the last line again before caching core.py. */
  source = g_strdup_printf ("%s\nExternalContext(%s).main()\n", core, config);
  preamble = zlib_compress (source, strlen (source), error);
  if (preamble == NULL)
    return NULL;

  len_text = g_strdup_printf ("%" G_GSIZE_FORMAT, g_bytes_get_size (preamble));
  stage1_len = replace (upstream_first_stage, "@LEN@", len_text);
  stage1 = replace (stage1_len, "@NAME@", name);

  /* Its children ask this process for mitogen.parent etc.: serve them
   * from the same installation. */
  {
    g_autofree char *package_dir = g_path_get_dirname (core_path);

    _mitogen_router_set_upstream_dir (router, context_id, package_dir);
  }

  plan = g_new0 (MitogenBootPlan, 1);
  plan->argv = g_new0 (char *, 4);
  plan->argv[0] = g_strdup (mitogen_connection_options_get_python_path (options));
  plan->argv[1] = g_strdup ("-c");
  plan->argv[2] = g_steal_pointer (&stage1);
  plan->preamble = g_steal_pointer (&preamble);
  plan->method = g_strdup ("local");

  return plan;
}
