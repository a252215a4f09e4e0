from facegen.cli import console_main

console_main()
