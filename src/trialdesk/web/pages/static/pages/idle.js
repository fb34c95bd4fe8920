// The idle timeout's warning: built in the accounts area.
"use strict";
