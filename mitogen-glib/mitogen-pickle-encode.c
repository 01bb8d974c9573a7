/* STUB: replaced by the pickle encoder. */
#include "config.h"
#include "mitogen-error.h"
#include "mitogen-pickle.h"

GBytes *
mitogen_pickle_encode (GVariant *value, MitogenPickleFlags flags, GError **error)
{
  g_set_error_literal (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_UNSUPPORTED_TYPE, "not yet");
  return NULL;
}
