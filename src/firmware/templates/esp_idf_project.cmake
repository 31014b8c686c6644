# ESP-IDF project for the qparity firmware. Build and flash: idf.py set-target @IDF_TARGET@ && idf.py -p PORT flash monitor
cmake_minimum_required(VERSION 3.16)
include($ENV{IDF_PATH}/tools/cmake/project.cmake)
project(qparity_firmware)
