#include "app.hpp"

int main(int argc, char** argv) { return mupgrade::cli::run(argc, argv); }
