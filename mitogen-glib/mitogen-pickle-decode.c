/* STUB: replaced by the pickle decoder. */
#include "config.h"
#include "mitogen-error.h"
#include "mitogen-pickle.h"

GVariant *
mitogen_pickle_decode (GBytes *pickle, GError **error)
{
  g_set_error_literal (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_MALFORMED, "not yet");
  return NULL;
}
