"""Library arguments in command-line words.

Library errors name the Python argument, Keras style (`Received:
image_size=16`); `guarded` adds the flag that sets it, so a command-line
user reads `... Received: image_size=16 (set with --image-size)`.

Plain Python (no Keras): the usage errors answer before TensorFlow starts.
"""

import re

#: Argument of a library function -> the flag that sets it.
ARGUMENT_FLAGS = {
    "allow_empty_classes": "--allow-empty-classes",
    "cpu_replicas": "--cpu-replicas",
    "data_dir": "--data-dir",
    "download": "--no-download",
    "global_batch_size": "--batch-size",
    "image_size": "--image-size",
    "label_names": "--label-names",
    "null_samples": "--null-samples",
    "num_classes": "--num-classes",
    "strategy": "--strategy",
    "stream_views": "--readout-stream-views",
    "test_split": "--test-split",
    "theta": "--theta",
    "views": "--readout-views",
}

# An argument named as `name`, `name=value` or (after Received:) name=value.
_ARGUMENT = re.compile(r"`(\w+)[`=]|\b(\w+)=")


def flags_named(message):
    """The flags of the arguments `message` names, in order, except those
    it already shows.

    Example:
    >>> flags_named("pass `download=False`. Received: data_dir=None")
    ['--no-download', '--data-dir']
    >>> flags_named("pass --theta 0.3. Received: theta=2")
    []
    """
    flags = []
    for match in _ARGUMENT.finditer(message):
        flag = ARGUMENT_FLAGS.get(match.group(1) or match.group(2))
        if flag and flag not in flags and flag not in message:
            flags.append(flag)
    return flags


def with_flags(message):
    """`message` with the flags that set the arguments it names, in
    parentheses at its end (before a final period).

    Example:
    >>> with_flags("`theta` must be in (0, 1). Received: theta=2")
    '`theta` must be in (0, 1). Received: theta=2 (set with --theta)'
    >>> with_flags("Pass `allow_empty_classes=True`.")
    'Pass `allow_empty_classes=True` (set with --allow-empty-classes).'
    """
    flags = flags_named(message)
    if not flags:
        return message
    note = f" (set with {', '.join(flags)})"
    if message.endswith("."):
        return f"{message[:-1]}{note}."
    return message + note
