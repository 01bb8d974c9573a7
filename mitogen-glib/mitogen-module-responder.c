/* mitogen-module-responder.c: answers GET_MODULE from children
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "mitogen-message-private.h"
#include "mitogen-module-responder-private.h"
#include "mitogen-pickle-private.h"
#include "mitogen-router-private.h"
#include "child/mitogen-child-resources.h"

/* Every request gets an answer, positive or negative, so a child's import
 * never waits forever. A module is served only from a file inside a
 * search path (after resolving symlinks), from a registered GResource
 * path, or from what the application names through ::find-module. */

#define MAX_MODULE_NAME 255
#define MAX_RELATED 32
/* The runtime's parts not sent at bootstrap (child/README.md, sections 9
 * and 10), built compressed. */
#define EXTRA_MODULE "mitogen._extra"
#define DEFERRED_MODULE "mitogen._deferred"

typedef struct
{
  char *fullname;
  char *path;          /* what the child sees as the file, "master:" prefixed there */
  GBytes *source;      /* (nullable) when given compressed */
  GBytes *compressed;  /* (nullable) zlib of the source, sent as it is */
  gboolean is_package;
  GPtrArray *submodules; /* (element-type utf8) for packages */
} ModuleFile;

struct _MitogenModuleResponder
{
  MitogenRouter *router;          /* (unowned) the router owns us */
  MitogenHasFinderFunc has_finder;
  MitogenFindModuleFunc find_module;

  GMutex lock;
  GPtrArray *paths;               /* (lock) real paths of search directories */
  GPtrArray *resource_paths;      /* (lock) */
  GHashTable *sent;               /* (lock) context id -> set of names */
};

static void
module_file_free (ModuleFile *file)
{
  g_free (file->fullname);
  g_free (file->path);
  g_clear_pointer (&file->source, g_bytes_unref);
  g_clear_pointer (&file->compressed, g_bytes_unref);
  g_clear_pointer (&file->submodules, g_ptr_array_unref);
  g_free (file);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ModuleFile, module_file_free)

gboolean
_mitogen_module_name_is_valid (const char *fullname)
{
  gboolean start = TRUE;
  gsize len = 0;

  /* Dotted Python identifiers only: no path separators, no "..", no
   * empty parts; nothing that could become a path outside a directory. */
  for (const char *p = fullname; *p != '\0'; p++, len++)
    {
      char c = *p;

      if (len >= MAX_MODULE_NAME)
        return FALSE;
      if (c == '.')
        {
          if (start)
            return FALSE;
          start = TRUE;
          continue;
        }
      if (!(g_ascii_isalpha (c) || c == '_' || (!start && g_ascii_isdigit (c))))
        return FALSE;
      start = FALSE;
    }

  return len > 0 && !start;
}

static gboolean
is_within (const char *real_path,
           const char *real_dir)
{
  gsize dir_len = strlen (real_dir);

  return strncmp (real_path, real_dir, dir_len) == 0 &&
         (real_path[dir_len] == '/' || (dir_len > 0 && real_dir[dir_len - 1] == '/'));
}

static GPtrArray *
list_submodules_in_dir (const char *dir)
{
  g_autoptr(GDir) handle = g_dir_open (dir, 0, NULL);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const char *entry;

  if (handle == NULL)
    return names;
  while ((entry = g_dir_read_name (handle)) != NULL)
    {
      g_autofree char *child = g_build_filename (dir, entry, NULL);
      g_autofree char *init = g_build_filename (child, "__init__.py", NULL);

      if (g_str_has_suffix (entry, ".py") && !g_str_equal (entry, "__init__.py"))
        {
          g_autofree char *name = g_strndup (entry, strlen (entry) - 3);

          if (_mitogen_module_name_is_valid (name) && strchr (name, '.') == NULL)
            g_ptr_array_add (names, g_steal_pointer (&name));
        }
      else if (g_file_test (init, G_FILE_TEST_IS_REGULAR) &&
               _mitogen_module_name_is_valid (entry) && strchr (entry, '.') == NULL)
        g_ptr_array_add (names, g_strdup (entry));
    }
  g_ptr_array_sort (names, (GCompareFunc) (void (*)(void)) g_strcmp0);
  return names;
}

static ModuleFile *
load_file (const char *fullname,
           const char *file_path,
           gboolean    is_package)
{
  g_autoptr(ModuleFile) file = g_new0 (ModuleFile, 1);
  char *contents = NULL;
  gsize len = 0;

  if (!g_file_get_contents (file_path, &contents, &len, NULL))
    return NULL;

  file->fullname = g_strdup (fullname);
  file->path = g_strdup (file_path);
  file->source = g_bytes_new_take (contents, len);
  file->is_package = is_package;
  if (is_package)
    {
      g_autofree char *dir = g_path_get_dirname (file_path);

      file->submodules = list_submodules_in_dir (dir);
    }
  return g_steal_pointer (&file);
}

static ModuleFile *
find_in_path (const char *fullname,
              const char *real_dir)
{
  g_auto(GStrv) parts = g_strsplit (fullname, ".", -1);
  g_autofree char *relative = g_strjoinv (G_DIR_SEPARATOR_S, parts);
  g_autofree char *base = g_build_filename (real_dir, relative, NULL);
  g_autofree char *package_init = g_build_filename (base, "__init__.py", NULL);
  g_autofree char *module_file = g_strconcat (base, ".py", NULL);
  const char *candidates[] = { package_init, module_file };

  for (guint i = 0; i < G_N_ELEMENTS (candidates); i++)
    {
      g_autofree char *real = realpath (candidates[i], NULL);

      if (real == NULL || !g_file_test (real, G_FILE_TEST_IS_REGULAR))
        continue;
      /* A symlink that leads out of the search path is not followed. */
      if (!is_within (real, real_dir))
        {
          g_message ("Module responder: refusing %s: %s resolves outside %s",
                     fullname, candidates[i], real_dir);
          continue;
        }
      return load_file (fullname, real, i == 0);
    }

  return NULL;
}

static ModuleFile *
find_in_resources (const char *fullname,
                   const char *resource_dir)
{
  g_auto(GStrv) parts = g_strsplit (fullname, ".", -1);
  g_autofree char *relative = g_strjoinv ("/", parts);
  g_autofree char *base = g_strconcat (resource_dir, "/", relative, NULL);
  g_autofree char *package_init = g_strconcat (base, "/__init__.py", NULL);
  g_autofree char *module_file = g_strconcat (base, ".py", NULL);
  const char *candidates[] = { package_init, module_file };

  for (guint i = 0; i < G_N_ELEMENTS (candidates); i++)
    {
      g_autoptr(GBytes) data = g_resources_lookup_data (candidates[i], 0, NULL);
      ModuleFile *file;

      if (data == NULL)
        continue;
      file = g_new0 (ModuleFile, 1);
      file->fullname = g_strdup (fullname);
      file->path = g_strconcat ("resource://", candidates[i], NULL);
      file->source = g_steal_pointer (&data);
      file->is_package = i == 0;
      if (file->is_package)
        {
          g_auto(GStrv) children = g_resources_enumerate_children (base, 0, NULL);

          file->submodules = g_ptr_array_new_with_free_func (g_free);
          for (guint j = 0; children != NULL && children[j] != NULL; j++)
            {
              g_autofree char *name = g_strdup (children[j]);

              if (g_str_has_suffix (name, "/"))
                name[strlen (name) - 1] = '\0';
              else if (g_str_has_suffix (name, ".py"))
                name[strlen (name) - 3] = '\0';
              else
                continue;
              if (!g_str_equal (name, "__init__") && _mitogen_module_name_is_valid (name))
                g_ptr_array_add (file->submodules, g_steal_pointer (&name));
            }
        }
      return file;
    }

  return NULL;
}

/* `mitogen.*` belongs to the child runtime: an upstream child gets the
 * modules of the installation it was booted from, mitogen-glib's own
 * runtime its own implementation of mitogen.parent (for via=). Never the
 * search path: a stray mitogen/ there must not replace them. */
static ModuleFile *
find_runtime_module (MitogenModuleResponder *self,
                     guint32                 requester,
                     const char             *fullname)
{
  g_autofree char *upstream_dir = _mitogen_router_dup_upstream_dir (self->router, requester);

  if (upstream_dir != NULL)
    {
      g_autofree char *packages_dir = g_path_get_dirname (upstream_dir);
      g_autofree char *real = realpath (packages_dir, NULL);

      return real ? find_in_path (fullname, real) : NULL;
    }

  if (g_str_equal (fullname, "mitogen.parent"))
    {
      g_autoptr(GBytes) source = g_resource_lookup_data (_mitogen_child_get_resource (),
                                                         "/org/mitogen-glib/child/parent.py", 0, NULL);
      ModuleFile *file;

      if (source == NULL)
        return NULL;
      file = g_new0 (ModuleFile, 1);
      file->fullname = g_strdup (fullname);
      file->path = g_strdup ("mitogen-glib/child/parent.py");
      file->source = g_steal_pointer (&source);
      return file;
    }
  /* The parts of the runtime left out at bootstrap: a child asks for them,
   * or gets the deferred ones after its first message (child/README.md). */
  if (g_str_equal (fullname, EXTRA_MODULE) || g_str_equal (fullname, DEFERRED_MODULE))
    {
      const char *base = g_str_equal (fullname, EXTRA_MODULE) ? "extra.py" : "deferred.py";
      g_autofree char *resource = g_strconcat ("/org/mitogen-glib/child/", base, ".z", NULL);
      g_autoptr(GBytes) compressed = g_resource_lookup_data (_mitogen_child_get_resource (),
                                                             resource, 0, NULL);
      ModuleFile *file;

      if (compressed == NULL)
        return NULL;
      file = g_new0 (ModuleFile, 1);
      file->fullname = g_strdup (fullname);
      /* Their code runs as the runtime's own: its file name is the one
       * tracebacks show, whatever this says. */
      file->path = g_strconcat ("mitogen-glib/child/", base, NULL);
      file->compressed = g_steal_pointer (&compressed);
      return file;
    }
  return NULL;
}

static gboolean
is_runtime_module (const char *fullname)
{
  return g_str_equal (fullname, "mitogen") || g_str_has_prefix (fullname, "mitogen.");
}

static ModuleFile *
find_module_file (MitogenModuleResponder *self,
                  const char             *fullname)
{
  g_autoptr(GPtrArray) paths = NULL;
  g_autoptr(GPtrArray) resource_paths = NULL;
  ModuleFile *file = NULL;

  g_mutex_lock (&self->lock);
  paths = g_ptr_array_copy (self->paths, (GCopyFunc) (void (*)(void)) g_strdup, NULL);
  g_ptr_array_set_free_func (paths, g_free);
  resource_paths = g_ptr_array_copy (self->resource_paths, (GCopyFunc) (void (*)(void)) g_strdup, NULL);
  g_ptr_array_set_free_func (resource_paths, g_free);
  g_mutex_unlock (&self->lock);

  for (guint i = 0; file == NULL && i < paths->len; i++)
    file = find_in_path (fullname, g_ptr_array_index (paths, i));
  for (guint i = 0; file == NULL && i < resource_paths->len; i++)
    file = find_in_resources (fullname, g_ptr_array_index (resource_paths, i));

  return file;
}

/* Import statements of a source, as absolute names, for sending related
 * modules ahead. A line scanner, not a parser: it only has to be right
 * for the common forms, and a miss costs one round trip, nothing more. */
static void
scan_imports (const ModuleFile *file,
              GPtrArray        *out)
{
  gsize len;
  const char *text = g_bytes_get_data (file->source, &len);
  g_autofree char *copy = g_strndup (text, len);
  g_auto(GStrv) lines = g_strsplit (copy, "\n", -1);
  g_autofree char *package = NULL;

  if (file->is_package)
    package = g_strdup (file->fullname);
  else
    {
      const char *dot = strrchr (file->fullname, '.');

      package = dot ? g_strndup (file->fullname, dot - file->fullname) : g_strdup ("");
    }

  for (guint i = 0; lines[i] != NULL && out->len < MAX_RELATED; i++)
    {
      char *line = g_strstrip (lines[i]);

      if (g_str_has_prefix (line, "from "))
        {
          g_auto(GStrv) words = g_strsplit_set (line + 5, " \t", -1);
          const char *target = words[0];
          g_autofree char *base = NULL;
          guint dots = 0;

          while (target[dots] == '.')
            dots++;
          if (dots > 0)
            {
              g_autofree char *anchor = g_strdup (package);

              for (guint d = 1; d < dots; d++)
                {
                  char *last = strrchr (anchor, '.');

                  if (last == NULL)
                    *anchor = '\0';
                  else
                    *last = '\0';
                }
              base = target[dots] ? (*anchor ? g_strconcat (anchor, ".", target + dots, NULL)
                                             : g_strdup (target + dots))
                                  : g_strdup (anchor);
            }
          else
            base = g_strdup (target);

          if (base[0] != '\0')
            g_ptr_array_add (out, g_strdup (base));
          /* "from pkg import sub" may name submodules. */
          for (guint w = 1; words[w] != NULL; w++)
            {
              if (!g_str_equal (words[w], "import"))
                continue;
              for (guint k = w + 1; words[k] != NULL; k++)
                {
                  g_autofree char *name = g_strdup (words[k]);

                  g_strdelimit (name, ",()", ' ');
                  g_strstrip (name);
                  if (base[0] != '\0' && _mitogen_module_name_is_valid (name))
                    g_ptr_array_add (out, g_strconcat (base, ".", name, NULL));
                }
              break;
            }
        }
      else if (g_str_has_prefix (line, "import "))
        {
          g_auto(GStrv) names = g_strsplit (line + 7, ",", -1);

          for (guint k = 0; names[k] != NULL; k++)
            {
              g_auto(GStrv) words = g_strsplit_set (g_strstrip (names[k]), " \t", 2);

              if (words[0] != NULL && _mitogen_module_name_is_valid (words[0]))
                g_ptr_array_add (out, g_strdup (words[0]));
            }
        }
    }
}

static GBytes *
compress_source (GBytes *source)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (source, &len);
  uLongf out_len = compressBound (len);
  guint8 *out = g_malloc (out_len);

  if (compress2 (out, &out_len, data, len, 6) != Z_OK)
    {
      g_free (out);
      return NULL;
    }
  return g_bytes_new_take (g_realloc (out, out_len), out_len);
}

static void
send_load_module (MitogenModuleResponder *self,
                  guint32                 dst_id,
                  const char             *fullname,
                  const ModuleFile       *file,
                  GPtrArray              *related)
{
  MitogenPickleWriter writer;
  g_autoptr(GBytes) compressed = NULL;
  g_autoptr(GBytes) payload = NULL;
  g_autoptr(MitogenMessage) message = NULL;
  guint32 own_id = mitogen_router_get_context_id (self->router);

  if (file != NULL)
    compressed = file->compressed != NULL ? g_bytes_ref (file->compressed) : compress_source (file->source);

  _mitogen_pickle_writer_init (&writer, MITOGEN_PICKLE_FLAGS_NONE,
                               128 + (compressed ? g_bytes_get_size (compressed) : 0));
  _mitogen_pickle_writer_mark (&writer);
  _mitogen_pickle_writer_str (&writer, fullname, -1);
  if (file == NULL || compressed == NULL)
    {
      /* The negative answer: the child raises ImportError. */
      _mitogen_pickle_writer_none (&writer);
      _mitogen_pickle_writer_none (&writer);
      _mitogen_pickle_writer_none (&writer);
      _mitogen_pickle_writer_tuple_n (&writer, 0);
    }
  else
    {
      if (file->is_package)
        {
          _mitogen_pickle_writer_empty_list (&writer);
          if (file->submodules->len > 0)
            {
              _mitogen_pickle_writer_mark (&writer);
              for (guint i = 0; i < file->submodules->len; i++)
                _mitogen_pickle_writer_str (&writer, g_ptr_array_index (file->submodules, i), -1);
              _mitogen_pickle_writer_appends (&writer);
            }
        }
      else
        _mitogen_pickle_writer_none (&writer);
      _mitogen_pickle_writer_str (&writer, file->path, -1);
      /* Blob(bytes): peers log it by size only. */
      _mitogen_pickle_writer_global (&writer, "mitogen.core", "Blob");
      _mitogen_pickle_writer_bytes (&writer, g_bytes_get_data (compressed, NULL), g_bytes_get_size (compressed));
      _mitogen_pickle_writer_tuple_n (&writer, 1);
      _mitogen_pickle_writer_reduce (&writer);
      _mitogen_pickle_writer_empty_list (&writer);
      if (related != NULL && related->len > 0)
        {
          _mitogen_pickle_writer_mark (&writer);
          for (guint i = 0; i < related->len; i++)
            _mitogen_pickle_writer_str (&writer, g_ptr_array_index (related, i), -1);
          _mitogen_pickle_writer_appends (&writer);
        }
    }
  _mitogen_pickle_writer_tuple (&writer);
  payload = _mitogen_pickle_writer_finish (&writer);

  message = _mitogen_message_new_full (dst_id, own_id, own_id, MITOGEN_HANDLE_LOAD_MODULE, 0, payload);
  mitogen_router_route (self->router, message, NULL);
}

/* Records @fullname as sent to @context_id; FALSE if it already was. */
static gboolean
mark_sent (MitogenModuleResponder *self,
           guint32                 context_id,
           const char             *fullname)
{
  GHashTable *names;
  gboolean added;

  g_mutex_lock (&self->lock);
  names = g_hash_table_lookup (self->sent, GUINT_TO_POINTER (context_id));
  if (names == NULL)
    {
      names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_hash_table_insert (self->sent, GUINT_TO_POINTER (context_id), names);
    }
  added = g_hash_table_add (names, g_strdup (fullname));
  g_mutex_unlock (&self->lock);

  return added;
}

/* Answers one request; runs on the broker thread, or in the owner's main
 * context when the application was asked (::find-module). */
static void
respond (MitogenModuleResponder *self,
         guint32                 requester,
         const char             *fullname,
         ModuleFile             *file)
{
  g_autoptr(GPtrArray) candidates = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) related = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) related_files = g_ptr_array_new_with_free_func ((GDestroyNotify) module_file_free);

  if (file == NULL)
    {
      g_debug ("Module responder: %s not found for context %u", fullname, requester);
      send_load_module (self, requester, fullname, NULL, NULL);
      return;
    }

  /* Parent packages first, then the modules this one imports that we can
   * serve: the child caches them, so one import costs one round trip. */
  for (const char *dot = strchr (fullname, '.'); dot != NULL; dot = strchr (dot + 1, '.'))
    g_ptr_array_add (candidates, g_strndup (fullname, dot - fullname));
  if (file->source != NULL)
    scan_imports (file, candidates);

  for (guint i = 0; i < candidates->len && related->len < MAX_RELATED; i++)
    {
      const char *name = g_ptr_array_index (candidates, i);
      ModuleFile *related_file;

      if (g_str_equal (name, fullname) || !_mitogen_module_name_is_valid (name) ||
          is_runtime_module (name))
        continue;
      related_file = find_module_file (self, name);
      if (related_file == NULL)
        continue;
      g_ptr_array_add (related, g_strdup (name));
      g_ptr_array_add (related_files, related_file);
    }

  /* An intermediate soon needs the runtime's lazy parts (mitogen.parent
   * uses Context.send_await): send them ahead, sparing a round trip. */
  if (g_str_equal (fullname, "mitogen.parent"))
    {
      ModuleFile *extra = find_runtime_module (self, requester, EXTRA_MODULE);

      if (extra != NULL)
        {
          g_ptr_array_add (related, g_strdup (extra->fullname));
          g_ptr_array_add (related_files, extra);
        }
    }

  for (guint i = 0; i < related_files->len; i++)
    {
      ModuleFile *related_file = g_ptr_array_index (related_files, i);

      if (mark_sent (self, requester, related_file->fullname))
        send_load_module (self, requester, related_file->fullname, related_file, NULL);
    }
  mark_sent (self, requester, fullname);
  send_load_module (self, requester, fullname, file, related);
}

/* The runtime's deferred part goes to each context once. */
static void
send_deferred_once (MitogenModuleResponder *self,
                    guint32                 context_id,
                    const ModuleFile       *file)
{
  if (mark_sent (self, context_id, DEFERRED_MODULE))
    send_load_module (self, context_id, DEFERRED_MODULE, file, NULL);
}

typedef struct
{
  MitogenModuleResponder *responder;
  MitogenRouter *router;  /* (owned) keeps the responder alive */
  guint32 requester;
  char *fullname;
} Request;

static void
request_free (Request *request)
{
  g_object_unref (request->router);
  g_free (request->fullname);
  g_free (request);
}

static gboolean
ask_application_cb (gpointer data)
{
  Request *request = data;
  g_autofree char *path = request->responder->find_module (request->router, request->fullname);
  g_autoptr(ModuleFile) file = NULL;

  if (path != NULL)
    file = load_file (request->fullname, path, g_str_has_suffix (path, "/__init__.py"));
  respond (request->responder, request->requester, request->fullname, file);

  return G_SOURCE_REMOVE;
}

static void
on_get_module (MitogenRouter  *router,
               MitogenMessage *message,
               gpointer        user_data)
{
  MitogenModuleResponder *self = user_data;
  gsize len;
  const char *data = g_bytes_get_data (_mitogen_message_get_data (message), &len);
  g_autofree char *fullname = NULL;
  g_autoptr(ModuleFile) file = NULL;

  if (mitogen_message_is_dead (message))
    return;

  /* An empty payload may come with no buffer at all. */
  fullname = data != NULL ? g_strndup (data, len) : g_strdup ("");
  if (strlen (fullname) != len || !_mitogen_module_name_is_valid (fullname))
    {
      g_autofree char *shown = g_utf8_make_valid (data ? data : "", MIN (len, 80));

      g_message ("Module responder: refused invalid module name “%s” from context %u",
                 shown, message->src_id);
      send_load_module (self, message->src_id, shown, NULL, NULL);
      return;
    }

  if (is_runtime_module (fullname))
    {
      file = find_runtime_module (self, message->src_id, fullname);
      /* Sent once: a child that asks after its first message asks for
       * what is already on its way. */
      if (file != NULL && g_str_equal (fullname, DEFERRED_MODULE))
        send_deferred_once (self, message->src_id, file);
      else
        respond (self, message->src_id, fullname, file);
      return;
    }

  file = find_module_file (self, fullname);
  if (file == NULL && self->has_finder (router))
    {
      Request *request = g_new (Request, 1);

      request->responder = self;
      request->router = g_object_ref (router);
      request->requester = message->src_id;
      request->fullname = g_steal_pointer (&fullname);
      _mitogen_invoke_in_context (_mitogen_router_get_owner_context (router),
                                  ask_application_cb, request, (GDestroyNotify) request_free);
      return;
    }

  respond (self, message->src_id, fullname, file);
}

MitogenModuleResponder *
_mitogen_module_responder_new (MitogenRouter         *router,
                               MitogenHasFinderFunc   has_finder,
                               MitogenFindModuleFunc  find_module)
{
  MitogenModuleResponder *self = g_new0 (MitogenModuleResponder, 1);

  self->router = router;
  self->has_finder = has_finder;
  self->find_module = find_module;
  g_mutex_init (&self->lock);
  self->paths = g_ptr_array_new_with_free_func (g_free);
  self->resource_paths = g_ptr_array_new_with_free_func (g_free);
  self->sent = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) g_hash_table_unref);

  _mitogen_router_add_internal_handler (router, on_get_module, self, NULL,
                                        MITOGEN_HANDLE_GET_MODULE, MITOGEN_HANDLER_FLAGS_PERSIST,
                                        MITOGEN_NO_RESPONDENT, MITOGEN_POLICY_ANY);
  return self;
}

void
_mitogen_module_responder_free (MitogenModuleResponder *self)
{
  g_ptr_array_unref (self->paths);
  g_ptr_array_unref (self->resource_paths);
  g_hash_table_unref (self->sent);
  g_mutex_clear (&self->lock);
  g_free (self);
}

void
_mitogen_module_responder_send_deferred (MitogenModuleResponder *self,
                                         guint32                 context_id)
{
  g_autoptr(ModuleFile) file = find_runtime_module (self, context_id, DEFERRED_MODULE);

  /* NULL: an upstream child, whose runtime has no such part. */
  if (file != NULL)
    send_deferred_once (self, context_id, file);
}

void
_mitogen_module_responder_add_path (MitogenModuleResponder *self,
                                    const char             *path)
{
  char *real = realpath (path, NULL);

  if (real == NULL)
    {
      g_message ("Module responder: search path %s does not exist; ignored", path);
      return;
    }
  g_mutex_lock (&self->lock);
  g_ptr_array_add (self->paths, g_strdup (real));
  g_mutex_unlock (&self->lock);
  free (real);
}

void
_mitogen_module_responder_add_resource_path (MitogenModuleResponder *self,
                                             const char             *resource_path)
{
  g_autofree char *trimmed = g_strdup (resource_path);

  while (g_str_has_suffix (trimmed, "/") && strlen (trimmed) > 1)
    trimmed[strlen (trimmed) - 1] = '\0';
  g_mutex_lock (&self->lock);
  g_ptr_array_add (self->resource_paths, g_steal_pointer (&trimmed));
  g_mutex_unlock (&self->lock);
}

void
_mitogen_module_responder_forget_context (MitogenModuleResponder *self,
                                          guint32                 context_id)
{
  g_mutex_lock (&self->lock);
  g_hash_table_remove (self->sent, GUINT_TO_POINTER (context_id));
  g_mutex_unlock (&self->lock);
}
